"""The engine on a StyleMapGAN: its edits reproduce the official code's outputs, and projection, collage
modes and attribute edits work on stylemaps (the shared conformance checkpoint, random weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from server.engine.attribute_edits import AttributeEdit, edited_latent
from server.engine.canvas import Canvas, Layer
from server.engine.compose import compose
from server.engine.edits import interpolate, local_blend, style_mix, style_mix_levels, stylemap_blend
from server.engine.errors import InvalidInput
from server.engine.latents import mean_latent
from server.engine.project import ProjectOptions, project
from server.engine.realize import RealizeOptions, realize
from server.models import load_model
from server.models.directions import computed_directions, w_samples
from tests.support.paths import conformance_file

IMAGE_TOL, STYLEMAP_TOL = 1e-4, 5e-5


@pytest.fixture(scope="module")
def model():
    return load_model(conformance_file("stylemapgan_s32.pt"))


@pytest.fixture(scope="module")
def ref():
    return np.load(conformance_file("stylemapgan_s32.npz"))


def max_err(a: torch.Tensor, b: np.ndarray) -> float:
    return float((a.detach().float() - torch.from_numpy(np.asarray(b, np.float32))).abs().max())


@pytest.fixture(scope="module")
def enc(model, ref):
    with torch.no_grad():
        return model.regressor(torch.from_numpy(ref["images"]))


@torch.no_grad()
def test_local_blend_w_is_the_official_afhq_edit(model, ref, enc):
    g = model.generator
    for k, (src, dst) in enumerate(ref["le_pairs"]):
        mask = torch.from_numpy(ref["le_w_mask"][k] > 0).float()[None, None]
        latent, image = stylemap_blend(g, enc[src:src + 1], enc[dst:dst + 1], mask, 0, "w")
        assert max_err(latent, ref["le_w_stylemap_edit"][k:k + 1]) < STYLEMAP_TOL
        assert max_err(image, ref["le_w_img"][k:k + 1]) < IMAGE_TOL


@torch.no_grad()
def test_local_blend_w_plus_is_the_official_celeba_edit(model, ref, enc):
    g = model.generator
    for k, (src, dst) in enumerate(ref["le_pairs"]):
        mask = torch.from_numpy(ref["le_wplus_mask"][k] > -1).float()[None, None]
        latent, image = stylemap_blend(g, enc[src:src + 1], enc[dst:dst + 1], mask, 0, "w_plus")
        assert latent is None and max_err(image, ref["le_wplus_img"][k:k + 1]) < IMAGE_TOL


@torch.no_grad()
def test_local_blend_w_plus_from_a_later_level_keeps_the_coarse_levels(model, enc):
    g = model.generator
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 16:] = 1
    a, b = enc[:1], enc[1:2]
    _, from_two = stylemap_blend(g, a, b, mask, 2, "w_plus")
    _, everything = stylemap_blend(g, a, b, mask, 0, "w_plus")
    _, none = stylemap_blend(g, a, b, mask, g.num_levels, "w_plus")
    assert torch.equal(none, g.synthesis(a))
    assert (from_two - everything).abs().max() > 1e-2 and (from_two - none).abs().max() > 1e-2


def test_local_blend_refuses_what_a_family_cannot_do(model, enc):
    g = model.generator
    mask = torch.ones(1, 1, 32, 32)
    with pytest.raises(InvalidInput) as info:
        stylemap_blend(g, enc[:1], enc[1:2], mask, 1, "w")  # "w" blends the one stylemap: no levels
    assert info.value.field == "start_layer"
    with pytest.raises(InvalidInput) as info:
        stylemap_blend(g, enc[:1], enc[1:2], mask, 0, "rows")
    assert info.value.field == "mix_space"
    with pytest.raises(InvalidInput):
        local_blend(g, enc[:1], enc[1:2], mask, 0)  # the W+ feature blend
    with pytest.raises(InvalidInput) as info:
        stylemap_blend(g, torch.zeros(1, 8, 64), enc[1:2], mask)
    assert info.value.field == "a" and "stylemap" in str(info.value)


@torch.no_grad()
def test_style_mixing_levels_are_the_official_ones(model, ref, enc):
    g = model.generator
    first = enc[:1].expand(3, -1, -1, -1)
    coarse = g.synthesize_levels(style_mix_levels(g, first, enc[1:4], 2))
    fine = g.synthesize_levels(style_mix_levels(g, enc[1:4], first, 2))
    assert max_err(coarse, ref["img_stylemix_coarse"]) < IMAGE_TOL
    assert max_err(fine, ref["img_stylemix_fine"]) < IMAGE_TOL
    with pytest.raises(InvalidInput) as info:
        style_mix_levels(g, enc[:1], enc[1:2], g.num_levels + 1)
    assert info.value.field == "split"
    with pytest.raises(InvalidInput):
        style_mix(g, enc[:1], enc[1:2], 2)  # a stylemap mix has no latent


@torch.no_grad()
def test_linear_interpolation_is_the_official_one(model, ref, enc):
    g = model.generator
    for k, lam in enumerate(ref["interp_lambda"]):
        frames = interpolate(g, enc[k + 1:k + 2], enc[k:k + 1], 3, "linear")
        assert torch.equal(frames[0], enc[k + 1:k + 2]) and torch.equal(frames[-1], enc[k:k + 1])
        mixed = torch.lerp(enc[k + 1:k + 2], enc[k:k + 1], float(lam))
        assert max_err(g.synthesis(mixed), ref["img_w_interp"][k:k + 1]) < IMAGE_TOL
    slerped = interpolate(g, enc[:1], enc[1:2], 5, "slerp")
    assert all(tuple(f.shape) == (1, 64, 8, 8) and torch.isfinite(f).all() for f in slerped)


@torch.no_grad()
def test_the_regressor_of_a_stylemap_model_is_its_encoder(model, ref, enc):
    image = torch.from_numpy(ref["images"])
    assert max_err(enc, ref["enc_stylemap"]) < STYLEMAP_TOL
    full = torch.ones(4, 1, 32, 32)
    assert torch.equal(model.regressor(image * full, full), enc)
    options = ProjectOptions(method="regressor")
    result = project(model, image[:1], full[:1], options)
    assert tuple(result.latent.shape) == (1, 64, 8, 8)
    assert max_err(result.image, ref["img_recon"][:1]) < IMAGE_TOL


@pytest.mark.parametrize("method,space", [("optimize", "w+"), ("optimize", "w"), ("optimize", "z"),
                                          ("hybrid", "w+"), ("scribble", "w+")])
def test_every_method_fits_a_stylemap(model, ref, method, space):
    image = torch.from_numpy(ref["img_recon"][1:2]).clamp(-1, 1)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 4:28, 4:28] = 1
    options = ProjectOptions(method=method, space=space, steps=12, lr=0.05, perceptual="none")
    result = project(model, image, mask, options)
    assert tuple(result.latent.shape) == (1, 64, 8, 8) and result.metrics["steps"] == 12
    start = ProjectOptions(method="regressor" if method in ("hybrid", "scribble") else "optimize", steps=1,
                           space=space, lr=0.05, perceptual="none")
    before = project(model, image, mask, start).metrics["masked_psnr"]
    assert result.metrics["masked_psnr"] > before, (before, result.metrics["masked_psnr"])


@pytest.mark.parametrize("method,space", [("hybrid", "w+"), ("optimize", "w")])
def test_cells_with_nothing_covered_keep_their_start(model, ref, method, space):
    """Optimising them only smeared the covered pixels' loss into the hole (blotches, worse hole fill)."""
    image = torch.from_numpy(ref["img_recon"][1:2]).clamp(-1, 1)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :13] = 1  # 8 x 8 cells of 4 px: columns 0-3 covered (3 partly), 4-7 not at all
    options = ProjectOptions(method=method, space=space, steps=6, lr=0.05, perceptual="none")
    fitted = project(model, image, mask, options).latent
    with torch.no_grad():
        start = model.regressor(image * mask, mask) if method == "hybrid" else mean_latent(model.generator, 1)
    assert torch.equal(fitted[..., 4:], start[..., 4:])
    assert (fitted[..., :4] - start[..., :4]).abs().amax() > 1e-3
    full = torch.ones(1, 1, 32, 32)
    everything = project(model, image, full, options).latent
    with torch.no_grad():
        start = model.regressor(image, full) if method == "hybrid" else start
    assert (everything[..., 4:] - start[..., 4:]).abs().amax() > 1e-3  # all covered: every cell is fitted


def test_stylemap_options_the_family_lacks_are_refused(model, ref):
    image, mask = torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    with pytest.raises(InvalidInput) as info:
        project(model, image, mask, ProjectOptions(method="optimize", steps=1, optimize_noise=True))
    assert info.value.field == "options.optimize_noise"
    with pytest.raises(InvalidInput) as info:
        project(model, image, mask, ProjectOptions(method="optimize", steps=1, init="latent",
                                                   init_latent=torch.zeros(1, 6, 64)))
    assert info.value.field == "options.init_latent"


def test_truncation_pulls_the_stylemap_toward_the_mean(model, ref):
    g = model.generator
    image, mask = torch.from_numpy(ref["images"][:1]), torch.ones(1, 1, 32, 32)
    plain = project(model, image, mask, ProjectOptions(method="regressor")).latent
    half = project(model, image, mask, ProjectOptions(method="regressor", truncation=0.5)).latent
    assert torch.allclose(half, g.w_avg + 0.5 * (plain - g.w_avg), atol=1e-5)


def _two_layer_canvas(ref) -> Canvas:
    """A photo-like bottom layer and an opaque piece over the right half of it."""
    pixels = ((np.transpose(ref["images"], (0, 2, 3, 1)) + 1) * 127.5).clip(0, 255).astype(np.uint8)
    piece = np.concatenate([pixels[1][:, 16:], np.full((32, 16, 1), 255, np.uint8)], axis=2)
    return Canvas(32, 32, [Layer(pixels[0]), Layer(piece, x=16, name="piece")])


@torch.no_grad()
def test_layers_collage_lays_each_layers_stylemap_over_the_composite(model, ref, monkeypatch):
    from server.engine import stylemap_collage

    canvas, encoder = _two_layer_canvas(ref), model.regressor
    comp = compose(canvas, 32)
    bottom = compose(Canvas(32, 32, canvas.layers[:1]), 32)
    piece = compose(Canvas(32, 32, canvas.layers[1:]), 32)
    assert float(piece.mask[..., :16].max()) == 0.0 and float(piece.mask[..., 16:].min()) == 1.0
    layered = stylemap_collage.layered_stylemap(encoder, canvas, comp, 8)
    close = dict(atol=1e-5, rtol=0)  # one batch against single passes
    assert torch.allclose(layered[..., 4:], encoder(piece.image * piece.mask, piece.mask)[..., 4:], **close)
    assert torch.allclose(layered[..., :4], encoder(bottom.image, bottom.mask)[..., :4], **close)
    whole = encoder(comp.image * comp.mask, comp.mask)
    assert (layered - whole).abs().max() > 0.05
    result = realize(model, canvas, RealizeOptions(ProjectOptions(method="regressor"), collage="layers",
                                                   skip_layer=True))
    assert torch.allclose(result.latent, layered, **close)
    composite = realize(model, canvas, RealizeOptions(ProjectOptions(method="regressor"), collage="composite",
                                                      skip_layer=True))
    assert torch.allclose(composite.latent, whole, **close)
    # a lone layer is the composite: one pass; many layers go through in chunks, in stacking order
    assert torch.equal(stylemap_collage.layered_stylemap(encoder, Canvas(32, 32, canvas.layers[:1]), bottom, 8),
                       encoder(bottom.image * bottom.mask, bottom.mask))
    monkeypatch.setattr(stylemap_collage, "CHUNK", 1)
    stacked = Canvas(32, 32, canvas.layers + [Layer(canvas.layers[0].image, name=f"copy {i}") for i in range(3)])
    last = stylemap_collage.layered_stylemap(encoder, stacked, compose(stacked, 32), 8)
    assert torch.allclose(last, encoder(bottom.image, bottom.mask), **close)  # the top copy covers everything


def test_collage_layers_needs_a_stylemap_model(ref):
    from tests.support.models import make_tiny_model

    with pytest.raises(InvalidInput) as info:
        realize(make_tiny_model(32), _two_layer_canvas(ref), RealizeOptions(collage="layers"))
    assert info.value.field == "collage"


def test_stylemap_directions_are_principal_components_of_stylemaps(model):
    g = model.generator
    samples = w_samples(g, 2000)
    assert tuple(samples.shape) == (2000, 64 * 8 * 8)
    found = computed_directions(g, samples)
    assert [d.kind for d in found] == ["ganspace"] * 32  # no SeFa for stylemaps
    assert all((d.first_layer, d.last_layer) == (0, 1) for d in found)
    pc1 = found[0]
    assert abs(float(pc1.vector.norm()) - 1) < 1e-4 and pc1.sigma > found[-1].sigma
    projected = (samples - samples.mean(0)) @ pc1.vector
    assert abs(float(projected.std()) - pc1.sigma) / pc1.sigma < 0.05
    latent = g.w_avg[None].clone()
    moved = edited_latent(g, latent, [AttributeEdit(2.0, "pc1")], {"pc1": pc1})
    assert torch.allclose(moved, latent + 2.0 * pc1.sigma * pc1.vector.view(1, 64, 8, 8), atol=1e-5)
    with pytest.raises(InvalidInput) as info:
        edited_latent(g, latent, [AttributeEdit(1.0, "pc1", first_layer=0, last_layer=2)], {"pc1": pc1})
    assert info.value.field == "edits[0].last_layer"


def test_direction_files_shaped_like_the_stylemap(model, tmp_path):
    from server.models.direction_files import read_direction_files

    g = model.generator
    rng = np.random.default_rng(0)
    np.save(tmp_path / "shaped.npy", rng.standard_normal((64, 8, 8)).astype(np.float32))
    np.save(tmp_path / "flat.npy", rng.standard_normal(64 * 8 * 8).astype(np.float32))
    np.save(tmp_path / "wplus.npy", rng.standard_normal((6, 64)).astype(np.float32))  # another family's
    samples = w_samples(g, 500)
    found = {d.name: d for d in read_direction_files([tmp_path], g, lambda: samples)}
    assert set(found) == {"shaped", "flat"}
    shaped = found["shaped"]
    assert tuple(shaped.vector.shape) == (64 * 8 * 8,) and (shaped.first_layer, shaped.last_layer) == (0, 1)
    expected = torch.from_numpy(np.load(tmp_path / "shaped.npy")).flatten()
    assert torch.allclose(shaped.vector, expected / expected.norm(), atol=1e-6)
    moved = edited_latent(g, g.w_avg[None], [AttributeEdit(1.0, "shaped")], found)
    assert torch.allclose(moved - g.w_avg, shaped.sigma * shaped.vector.view(1, 64, 8, 8), atol=1e-5)
