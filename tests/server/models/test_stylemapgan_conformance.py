"""StyleMapGAN: the reader, networks and blends reproduce every array of `stylemapgan_s32.npz`
(reference outputs of the official code, see `conformance/stylemapgan_README.md`), and the file is
read the safe way in both torch formats."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from server.models import StyleMapEncoder, StyleMapGenerator, load_generator, load_model, load_regressor
from server.models.loading import checkpoint_kind
from server.models.own_format import read_own
from server.models.stylemapgan import blend_levels, pool_mask
from server.models.stylemapgan_checkpoint import read_stylemapgan
from tests.support.paths import REPO, conformance_file

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGE_TOL = 1e-4  # README section 6: 4x the worst measured noise
LATENT_TOL = 5e-5  # stylemaps and resizer outputs
NAME = "stylemapgan_s32.pt"

# -- the official demo.py's collage, which no served action uses: it lives with the test of its figures --


def _shifted_windows(size: int, shift: int) -> tuple[slice, slice]:
    """(source, target) slices of one axis of a `size` grid moved by `shift` cells, without wrap."""
    n = max(size - abs(shift), 0)
    return (slice(0, n), slice(shift, shift + n)) if shift >= 0 else (slice(-shift, -shift + n), slice(0, n))


def collage_levels(original_levels: Sequence[torch.Tensor], reference_levels: Sequence[torch.Tensor],
                   masks: torch.Tensor, shifts: Sequence[tuple[int, int]],
                   weights: Sequence[float]) -> list[torch.Tensor]:
    """The demo's collage on the levels: one row of output per weight.

    `original_levels` are `[1, c, h, h]`, `reference_levels` `[R, c, h, h]`, `masks` `[R, 1, S, S]` in
    [0, 1], `shifts` one `(dx, dy)` pixel offset per reference. At each level (ratio r = S/h) a
    reference's cells are those whose average mask is > 0.5; they move by `int(d / r)` cells
    (truncated toward zero; cells moved off the grid are dropped, nothing wraps) and the original
    moves toward them by the weight: `o += w * (ref - o)`. References apply in order.
    """
    out = []
    for orig, refs in zip(original_levels, reference_levels):
        h = orig.shape[-1]
        ratio = masks.shape[-1] // h
        cells = F.avg_pool2d(masks.float(), ratio) > 0.5
        mixed = orig.repeat(len(weights), 1, 1, 1)
        for i, (dx, dy) in enumerate(shifts):
            (src_y, dst_y), (src_x, dst_x) = _shifted_windows(h, int(dy / ratio)), _shifted_windows(h, int(dx / ratio))
            take = cells[i, :, src_y, src_x]
            ref = refs[i, :, src_y, src_x]
            for k, weight in enumerate(weights):
                target = mixed[k, :, dst_y, dst_x]
                target.copy_(torch.where(take, target + weight * (ref - target), target))
        out.append(mixed)
    return out


@torch.no_grad()
def demo_collage(g: StyleMapGenerator, original: torch.Tensor, references: torch.Tensor, masks: torch.Tensor,
                 shifts: Sequence[tuple[int, int]], steps: int) -> torch.Tensor:
    """`steps` images `[steps, 3, S, S]` morphing the `original` stylemap `[1, C, L, L]` toward the
    collage of `references` `[R, C, L, L]` (weights 0, 1/(steps-1), ..., 1; see :func:`collage_levels`)."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    weights = [s / (steps - 1) for s in range(steps)]
    levels = collage_levels(g.resize(original), g.resize(references), masks, shifts, weights)
    return g.synthesize_levels(levels)



def max_err(a: torch.Tensor, ref: np.ndarray) -> float:
    return (a.detach() - torch.from_numpy(np.asarray(ref))).abs().max().item()


@pytest.fixture(scope="module")
def ref():
    return np.load(conformance_file("stylemapgan_s32.npz"))


@pytest.fixture(scope="module")
def model():
    return load_model(conformance_file(NAME))


@pytest.fixture(scope="module")
def ckpt():
    return torch.load(conformance_file(NAME), weights_only=False)


def arr(ref, key) -> torch.Tensor:
    return torch.from_numpy(ref[key])


# -- configuration -----------------------------------------------------------------------------

def test_config_and_card(model, ref):
    g, e = model.generator, model.regressor
    assert isinstance(g, StyleMapGenerator) and isinstance(e, StyleMapEncoder)
    cfg = g.config
    assert (cfg.resolution, cfg.latent_size, cfg.latent_channels) == (
        ref["size"], ref["latent_spatial_size"], ref["latent_channel_size"])
    assert cfg.mapping_layers == ref["mapping_layer_num"] and cfg.small_generator == bool(ref["small_generator"])
    assert cfg.mapping_lr_mul == pytest.approx(float(ref["lr_mul"]))
    assert cfg.normalize_mode == str(ref["normalize_mode"])
    assert cfg.channels == {int(r): int(c) for r, c in ref["channels"]}
    assert cfg.stylecode_channels == {8: 16, 16: 16, 32: 16}
    assert g.num_levels == ref["num_stylecodes"] and g.level_sizes == [8, 8, 16, 16, 32, 32]
    assert (g.latent_kind, g.latent_shape, g.latent_rows) == ("stylemap", (64, 8, 8), (1, 4096))
    assert (g.resolution, g.z_dim, g.c_dim) == (32, 64, 0) and g.synthesis.noise_layers == []
    assert (e.latent_kind, e.latent_shape, e.input_size) == ("stylemap", (64, 8, 8), 32)
    card = model.card
    assert (card["latent_kind"], card["latent_shape"], card["num_levels"]) == ("stylemap", [64, 8, 8], 6)
    assert (card["family"], card["latent_channels"], card["latent_size"]) == ("stylemapgan", 64, 8)
    assert "num_ws" not in card and card["regressor"] == e.config.to_json()
    assert card["source"]["format"] == "stylemapgan" and card["source"]["train_args"]["channel_multiplier"] == 2
    assert model.discriminator is not None and model.discriminator.config.channels == {32: 16, 16: 16, 8: 16, 4: 16}


def test_stylegan2_generators_state_the_same_contract():
    g = load_generator(conformance_file("rosinality_s32.pt"))
    assert (g.latent_kind, g.latent_shape, g.latent_rows, g.num_levels) == (
        "w_plus", (g.num_ws, g.w_dim), (g.num_ws, g.w_dim), g.num_ws)
    card = g.card
    assert (card["latent_kind"], card["latent_shape"], card["family"]) == ("w_plus", [g.num_ws, g.w_dim], "stylegan2")


# -- generator from z --------------------------------------------------------------------------

@torch.no_grad()
def test_mapping_resizer_and_images(model, ref):
    g = model.generator
    stylemap = g.mapping(arr(ref, "z"))
    assert max_err(stylemap.flatten(1), ref["stylecode_flat"]) < LATENT_TOL
    assert max_err(stylemap, ref["stylemap_z"]) < LATENT_TOL
    levels = g.resize(stylemap)
    for i, level in enumerate(levels):
        assert max_err(level[:1], ref[f"resizer_z0_{i}"]) < LATENT_TOL, f"resizer output {i}"
    assert max_err(g.synthesis(stylemap), ref["img_z"]) < IMAGE_TOL
    assert max_err(g.synthesize_levels(levels), ref["img_z"]) < IMAGE_TOL
    assert max_err(g(arr(ref, "z")), ref["img_z"]) < IMAGE_TOL
    assert max_err(g.synthesis(arr(ref, "stylemap_in")), ref["img_stylemap_in"]) < IMAGE_TOL


@torch.no_grad()
def test_truncation_toward_the_mean_stylemap(model, ref):
    g = model.generator
    saved = g.w_avg.clone()
    try:
        g.mapping.w_avg.copy_(arr(ref, "truncation_mean_latent").reshape(g.latent_shape))
        z = arr(ref, "z")
        assert max_err(g.mapping(z, truncation_psi=0.7), ref["stylemap_z_trunc07"]) < LATENT_TOL
        assert max_err(g(z, truncation_psi=0.7), ref["img_z_trunc07"]) < IMAGE_TOL
        assert torch.equal(g.mapping(z, truncation_psi=0.7, truncation_cutoff=0), g.mapping(z))
    finally:
        g.mapping.w_avg.copy_(saved)


@torch.no_grad()
def test_w_avg_is_the_seeded_mean_and_sampling_is_seeded(model):
    g = model.generator
    assert torch.allclose(g.w_avg, g.estimate_w_avg(10_000, seed=0), atol=1e-6)
    assert "10000" in model.card["source"]["w_avg"]
    a, b = list(g.sample_w(5, seed=3, batch=2)), list(g.sample_w(5, seed=3, batch=2))
    assert [x.shape for x in a] == [(2, 4096), (2, 4096), (1, 4096)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], g.mapping(z).flatten(1))


@torch.no_grad()
def test_contract_validation(model):
    g = model.generator
    with pytest.raises(ValueError, match="stylemap must have shape"):
        g.synthesis(torch.zeros(1, 512, 8))
    with pytest.raises(ValueError, match="noise_mode"):
        g.synthesis(torch.zeros(1, 64, 8, 8), noise_mode="loud")
    with pytest.raises(ValueError, match="no noise inputs"):
        g.synthesis(torch.zeros(1, 64, 8, 8), noise=[torch.zeros(1)])
    with pytest.raises(ValueError, match="expected 6 levels"):
        g.synthesize_levels(g.resize(torch.zeros(1, 64, 8, 8))[:5])
    with pytest.raises(ValueError, match="z must have shape"):
        g.mapping(torch.zeros(1, 32))
    latent = torch.randn(1, 64, 8, 8)
    assert torch.equal(g.synthesis(latent, noise_mode="random"), g.synthesis(latent, noise_mode="none"))


# -- encoder and editing -----------------------------------------------------------------------

@torch.no_grad()
def test_encoder_reconstruction_and_mask(model, ref):
    g, e = model.generator, model.regressor
    images = arr(ref, "images")
    enc = e(images)
    assert max_err(enc, ref["enc_stylemap"]) < LATENT_TOL
    assert torch.equal(e(images * 1.0, torch.ones(4, 1, 32, 32)), enc), "a full mask is the plain e_ema call"
    assert max_err(g.synthesis(enc), ref["img_recon"]) < IMAGE_TOL
    big = images.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # area-resized back exactly
    assert torch.allclose(e(big), enc, atol=1e-6)
    with pytest.raises(ValueError, match="mask must have shape"):
        e(images, torch.ones(4, 1, 16, 16))
    with pytest.raises(ValueError, match="masked_image"):
        e(images[:, :1])


@torch.no_grad()
def test_style_mixing_and_interpolation(model, ref):
    g, enc = model.generator, arr(ref, "enc_stylemap")
    a, b = g.resize(enc[[0, 0, 0]]), g.resize(enc[1:4])
    # "coarse": resizer outputs 0-1 from w1, 2.. from w2; "fine": 0-1 from w2, 2.. from w1
    assert max_err(g.synthesize_levels(a[:2] + b[2:]), ref["img_stylemix_coarse"]) < IMAGE_TOL
    assert max_err(g.synthesize_levels(b[:2] + a[2:]), ref["img_stylemix_fine"]) < IMAGE_TOL
    lam = [float(x) for x in ref["interp_lambda"]]
    w = torch.stack([enc[i] * lam[i] + enc[i + 1] * (1 - lam[i]) for i in range(3)])
    assert max_err(g.synthesis(w), ref["img_w_interp"]) < IMAGE_TOL


@torch.no_grad()
def test_local_editing_on_w(model, ref):
    g, enc = model.generator, arr(ref, "enc_stylemap")
    src, dst = arr(ref, "le_pairs").T
    masks = (arr(ref, "le_w_mask") > -1).float()[:, None]  # generate.py: MaxPool(mask) > -1
    cells = pool_mask(masks, 8)
    assert cells.dtype == torch.bool and np.array_equal(cells.float().numpy(), ref["le_w_mask_stylemap"])
    edit = torch.where(cells, enc[dst], enc[src])
    assert max_err(edit, ref["le_w_stylemap_edit"]) < LATENT_TOL
    assert max_err(g.synthesis(edit), ref["le_w_img"]) < IMAGE_TOL


@torch.no_grad()
def test_local_editing_on_w_plus(model, ref):
    g, enc = model.generator, arr(ref, "enc_stylemap")
    src, dst = arr(ref, "le_pairs").T
    masks = (arr(ref, "le_wplus_mask") > -1).float()[:, None]  # the union of both part masks
    levels = blend_levels(g.resize(enc[src]), g.resize(enc[dst]), masks)
    assert max_err(g.synthesize_levels(levels), ref["le_wplus_img"]) < IMAGE_TOL


def test_pool_mask_rule():
    mask = torch.zeros(1, 1, 8, 8)
    mask[0, 0, 5, 2] = 0.5  # one pixel at the threshold selects its whole cell
    mask[0, 0, 0, 7] = 0.49
    cells = pool_mask(mask, 2)
    assert cells.tolist() == [[[[False, False], [True, False]]]]
    odd = pool_mask(mask, 3)  # a grid that does not divide the mask: cells overlap, none is missed
    assert odd.shape == (1, 1, 3, 3) and odd[0, 0, 2, 0] and odd[0, 0, 1, 0] and not odd[0, 0, 0, 2]
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        pool_mask(mask[0], 2)


@torch.no_grad()
def test_demo_collage(model, ref):
    g, e = model.generator, model.regressor
    images = arr(ref, "images")
    stylemaps = e(torch.cat([images[0:1], images[1:3]]))
    assert max_err(stylemaps, ref["demo_stylemaps"]) < LATENT_TOL
    xs, ys = ref["demo_shift_xy"].tolist()  # demo.py's shift_original = [x list, y list]
    out = demo_collage(g, stylemaps[:1], stylemaps[1:], arr(ref, "demo_masks"), list(zip(xs, ys)),
                       int(ref["demo_interpolation_step"]))
    assert max_err(out, ref["demo_img"]) < IMAGE_TOL
    assert max_err(out[:1], ref["img_recon"][:1]) < IMAGE_TOL, "weight 0 is the original's reconstruction"


@torch.no_grad()
def test_transplantation(model, ref):
    g, e = model.generator, model.regressor
    images = arr(ref, "images")
    src, dst = e(images[0:1]), e(images[1:2])
    for sy, sx, ry, rx, h, w in ref["tp_coords"].tolist():  # generate.py's rectangles on the 8x8 stylemap
        src[:, :, sy:sy + h, sx:sx + w] = dst[:, :, ry:ry + h, rx:rx + w]
    assert max_err(g.synthesis(src), ref["tp_img"]) < IMAGE_TOL


# -- reading the file --------------------------------------------------------------------------

@torch.no_grad()
def test_the_ema_networks_are_the_ones_loaded(model, ref, ckpt):
    """Swapping in the raw `generator` / `encoder` must show: the reader takes g_ema and e_ema."""
    swapped = read_stylemapgan(conformance_file(NAME), {**ckpt, "g_ema": ckpt["generator"], "e_ema": ckpt["encoder"]})
    z, images = arr(ref, "z"), arr(ref, "images")
    assert max_err(swapped["generator"](z), ref["img_z"]) > 0.5
    assert max_err(swapped["regressor"](images), ref["enc_stylemap"]) > 0.1
    assert max_err(model.generator(z), ref["img_z"]) < IMAGE_TOL


@torch.no_grad()
def test_load_regressor_gives_the_encoder(ref):
    r = load_regressor(conformance_file(NAME))
    assert isinstance(r, StyleMapEncoder) and r.card["source"]["format"] == "stylemapgan"
    assert max_err(r(arr(ref, "images")), ref["enc_stylemap"]) < LATENT_TOL


@torch.no_grad()
def test_legacy_format_copy_loads_the_same(model, ref, ckpt, tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save(ckpt, path, _use_new_zipfile_serialization=False)
    assert checkpoint_kind(path) == "torch"
    legacy = load_model(path)
    z, images = arr(ref, "z"), arr(ref, "images")
    assert torch.equal(legacy.generator(z), model.generator(z))
    assert torch.equal(legacy.regressor(images), model.regressor(images))
    assert torch.equal(legacy.discriminator(images), model.discriminator(images))


def test_missing_train_args_fall_back_to_the_defaults(ckpt):
    loaded = read_stylemapgan(conformance_file(NAME), {k: v for k, v in ckpt.items() if k != "train_args"})
    cfg = loaded["generator"].config
    assert cfg.mapping_lr_mul == 0.01 and cfg.normalize_mode == "LayerNorm"
    assert any("train_args" in note for note in loaded["notes"])


def test_mismatched_tensors_are_refused_naming_the_file(ckpt):
    g_ema = dict(ckpt["g_ema"])
    g_ema["decoder.conv1.conv.gamma.weight"] = torch.zeros(16, 15, 3, 3)
    with pytest.raises(ValueError, match=f"{NAME}.*g_ema"):
        read_stylemapgan(conformance_file(NAME), {**ckpt, "g_ema": g_ema})
    g_ema = {k: v for k, v in ckpt["g_ema"].items() if k != "decoder.to_rgb.activate.bias"}
    with pytest.raises(ValueError, match=NAME):
        read_stylemapgan(conformance_file(NAME), {**ckpt, "g_ema": g_ema})
    e_ema = dict(ckpt["e_ema"], **{"convs.0.conv2.0.kernel": torch.ones(4, 4)})
    with pytest.raises(ValueError, match="blur kernel"):
        read_stylemapgan(conformance_file(NAME), {**ckpt, "e_ema": e_ema})


class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("where", ["top", "g_ema", "train_args"])
def test_hostile_stylemapgan_pickle_is_refused_without_side_effect(tmp_path, legacy, where):
    marker = tmp_path / "pwned"
    ckpt = {"g_ema": {"mapping_z.1.weight": torch.zeros(2, 2)}, "e_ema": {"final_conv.1.bias": torch.zeros(2)},
            "train_args": argparse.Namespace(lr_mul=0.01)}
    if where == "top":
        ckpt["payload"] = _Shell(marker)
    elif where == "g_ema":
        ckpt["g_ema"]["mapping_z.1.bias"] = _Shell(marker)
    else:
        ckpt["train_args"] = argparse.Namespace(lr_mul=_Shell(marker))
    path = tmp_path / "evil.pt"
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    assert checkpoint_kind(path) == "torch"
    for load in (load_model, load_regressor):
        with pytest.raises(ValueError, match="system"):
            load(path)
    assert not marker.exists()


# -- the project's own format and the CLI ------------------------------------------------------

@torch.no_grad()
def test_own_format_round_trip(model, ref, tmp_path, capsys):
    from server.models.__main__ import main

    src = conformance_file(NAME)
    z, images = arr(ref, "z"), arr(ref, "images")
    assert main(["export", str(src), str(tmp_path / "f32")]) == 0
    own = read_own(tmp_path / "f32")
    g, e, d = own.generator, own.regressor, own.discriminator
    assert g.config == model.generator.config and e.config == model.regressor.config
    assert own.card["family"] == "stylemapgan" and own.card["format_version"] == 2
    assert torch.equal(g.w_avg, model.generator.w_avg)
    assert torch.equal(g(z, truncation_psi=0.7), model.generator(z, truncation_psi=0.7))
    assert torch.equal(e(images), model.regressor(images)) and torch.equal(d(images), model.discriminator(images))
    assert isinstance(load_regressor(tmp_path / "f32"), StyleMapEncoder)

    assert main(["export", str(src), str(tmp_path / "f16"), "--half"]) == 0
    half = load_model(tmp_path / "f16")
    assert half.card["weights"]["dtype"] == "float16"
    assert max_err(half.generator(z), ref["img_z"]) < 0.05
    assert max_err(half.regressor(images), ref["enc_stylemap"]) < 0.05
    capsys.readouterr()
    assert main(["info", str(tmp_path / "f16")]) == 0
    assert json.loads(capsys.readouterr().out)["latent_kind"] == "stylemap"


def test_info_command_on_the_checkpoint():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a tiny model: threads only add contention
    out = subprocess.run([sys.executable, "-m", "server.models", "info", str(conformance_file(NAME))], cwd=REPO,
                         capture_output=True, text=True, check=True, env=env).stdout
    card = json.loads(out)
    assert (card["latent_kind"], card["latent_shape"], card["num_levels"]) == ("stylemap", [64, 8, 8], 6)
    assert card["generator"]["normalize_mode"] == "LayerNorm" and card["regressor"]["latent_channels"] == 64


def test_export_refuses_a_regressor_of_another_latent(capsys, tmp_path):
    from server.models.__main__ import main

    code = main(["export", str(conformance_file(NAME)), str(tmp_path / "x"),
                 "--regressor", str(conformance_file("latentcomp_enc_small.pth"))])
    assert code == 2 and "stylemap" in capsys.readouterr().err and not (tmp_path / "x").exists()


# -- the small-generator layout (the held-back s64 file's; the released "light" models') ------

def official_state(size, latent_size, c, ch, sd, n_mlp=8, normalize_mode="LayerNorm", seed=0):
    """Random `g_ema` and `e_ema` state dicts with the official key names and shapes (README section 3)."""
    gen = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    k1 = torch.tensor([1.0, 3, 3, 1])
    kernel = torch.outer(k1, k1) / 64
    g = {}
    for i in range(1, n_mlp + 1):
        out = c * latent_size ** 2 if i == n_mlp else c
        g[f"mapping_z.{i}.weight"], g[f"mapping_z.{i}.bias"] = rnd(out, c), rnd(out)
    g["decoder.input.input"] = rnd(1, ch[latent_size], latent_size, latent_size)

    def styled(p, cin, cout, k, style, up=False):
        g[f"{p}.conv.weight"] = rnd(1, cout, cin, k, k)
        if up:
            g[f"{p}.conv.blur.kernel"] = kernel * 4
        for name in ("gamma", "beta"):
            g[f"{p}.conv.{name}.weight"] = rnd(cin, style, 3, 3)
            g[f"{p}.conv.{name}.bias"] = rnd(cin) + (name == "gamma")
        if normalize_mode == "BatchNorm2d":
            g[f"{p}.conv.norm.running_mean"], g[f"{p}.conv.norm.running_var"] = rnd(cin), rnd(cin).abs() + 0.5
            g[f"{p}.conv.norm.num_batches_tracked"] = torch.tensor(7)
        g[f"{p}.activate.bias"] = rnd(cout)

    res = [latent_size * 2 ** i for i in range(int(np.log2(size // latent_size)) + 1)]
    styled("decoder.conv1", ch[res[0]], ch[res[0]], 3, sd[res[0]])
    levels = [(c, sd[res[0]], False), (sd[res[0]], sd[res[0]], False)]
    for k, (prev, r) in enumerate(zip(res, res[1:])):
        styled(f"decoder.convs.{k}.conv1", ch[prev], ch[r], 3, sd[prev], up=True)
        styled(f"decoder.convs.{k}.conv2", ch[r], ch[r], 3, sd[r])
        g[f"decoder.convs.{k}.skip.0.weight"] = rnd(ch[r], ch[prev], 1, 1)
        g[f"decoder.convs.{k}.skip.1.kernel"] = kernel * 4
        levels += [(sd[prev], sd[r], True), (sd[r], sd[r], False)]
    for i, (cin, cout, up) in enumerate(levels):
        g[f"decoder.convs_latent.{i}.0.weight"] = rnd(cout, cin, 3, 3)
        if up:
            g[f"decoder.convs_latent.{i}.1.kernel"] = kernel * 4
        g[f"decoder.convs_latent.{i}.{2 if up else 1}.bias"] = rnd(cout)
    styled("decoder.to_rgb", ch[size], 3, 1, sd[size])
    e = {"from_rgb.0.weight": rnd(ch[size], 3, 1, 1), "from_rgb.1.bias": rnd(ch[size])}
    for j, r in enumerate(res[:0:-1]):
        e.update({f"convs.{j}.conv1.0.weight": rnd(ch[r], ch[r], 3, 3), f"convs.{j}.conv1.1.bias": rnd(ch[r]),
                  f"convs.{j}.conv2.0.kernel": kernel, f"convs.{j}.conv2.1.weight": rnd(ch[r // 2], ch[r], 3, 3),
                  f"convs.{j}.conv2.2.bias": rnd(ch[r // 2]), f"convs.{j}.skip.0.kernel": kernel,
                  f"convs.{j}.skip.1.weight": rnd(ch[r // 2], ch[r], 1, 1)})
    e["final_conv.0.weight"], e["final_conv.1.bias"] = rnd(c, ch[latent_size], 3, 3), rnd(c)
    return g, e


def test_the_layout_builder_matches_the_real_file(ckpt):
    """The test's own builder gives exactly the s32 file's keys and shapes, so its s64 layout is trusted."""
    g, e = official_state(32, 8, 64, {8: 16, 16: 16, 32: 16}, {8: 16, 16: 16, 32: 16})
    for built, real in ((g, ckpt["g_ema"]), (e, ckpt["e_ema"])):
        assert {k: tuple(v.shape) for k, v in built.items()} == {k: tuple(v.shape) for k, v in real.items()}
    assert len(g) == 73 and len(e) == 18


@torch.no_grad()
@pytest.mark.parametrize("normalize_mode", ["LayerNorm", "InstanceNorm2d", "BatchNorm2d"])
def test_small_generator_layout_is_read_from_the_tensors(normalize_mode, tmp_path):
    ch, sd = {16: 16, 32: 16, 64: 8}, {16: 32, 32: 32, 64: 32}
    g_ema, e_ema = official_state(64, 16, 32, ch, sd, normalize_mode=normalize_mode)
    args = argparse.Namespace(size=64, latent_spatial_size=16, latent_channel_size=32, small_generator=True,
                              channel_multiplier=1, lr_mul=0.01, normalize_mode=normalize_mode)
    loaded = read_stylemapgan(tmp_path / "s64.pt", {"g_ema": g_ema, "e_ema": e_ema, "train_args": args})
    g, e = loaded["generator"], loaded["regressor"]
    cfg = g.config
    assert (cfg.resolution, cfg.latent_size, cfg.latent_channels, cfg.mapping_layers) == (64, 16, 32, 8)
    assert cfg.small_generator and cfg.channels == ch and cfg.stylecode_channels == sd
    assert cfg.normalize_mode == normalize_mode and loaded["discriminator"] is None
    assert g.level_sizes == [16, 16, 32, 32, 64, 64] and e.config.channels == ch
    img = g.synthesis(e(torch.rand(2, 3, 64, 64) * 2 - 1))
    assert img.shape == (2, 3, 64, 64) and torch.isfinite(img).all()
    # the first resizer output is conv3x3(C -> C) + bias, leaky ReLU * sqrt 2, with weight / sqrt(9 C)
    latent = torch.randn(1, 32, 16, 16)
    w, b = g_ema["decoder.convs_latent.0.0.weight"], g_ema["decoder.convs_latent.0.1.bias"]
    expect = torch.nn.functional.leaky_relu(
        torch.nn.functional.conv2d(latent, w / np.sqrt(9 * 32), padding=1) + b[:, None, None], 0.2) * np.sqrt(2)
    assert torch.allclose(g.resize(latent)[0], expect, atol=1e-5)
