"""server.engine.project on the tiny random 32x32 model: few steps, small tensors."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from server.engine import losses as L
from server.engine.errors import Cancelled, InvalidInput, ModelUnavailable
from server.engine.progress import CancelToken
from server.engine.project import ProjectOptions, project

METRIC_KEYS = {"masked_psnr", "masked_ssim", "steps", "seconds", "loss", "method", "restarts"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _sample(g, seed: int) -> torch.Tensor:
    with torch.no_grad():
        z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(seed))
        return g.synthesis(g.mapping(z))


def _w_avg_image(g) -> torch.Tensor:
    with torch.no_grad():
        return g.synthesis(g.w_avg.view(1, 1, -1).expand(1, g.num_ws, -1))


@pytest.fixture(scope="module")
def target(tiny_model):
    return _sample(tiny_model.generator, 3)


@pytest.fixture(scope="module")
def full_mask():
    return torch.ones(1, 1, 32, 32)


def test_optimize_in_wplus_improves_psnr(tiny_model, target, full_mask):
    g = tiny_model.generator
    before = L.masked_psnr(_w_avg_image(g), target, full_mask)
    result = project(tiny_model, target, full_mask, ProjectOptions(steps=30, space="w+", init="w_avg"))
    assert result.metrics["masked_psnr"] > before + 6
    assert set(result.metrics) == METRIC_KEYS
    assert result.latent.shape == (1, g.num_ws, g.w_dim) and not result.latent.requires_grad
    assert result.image.shape == (1, 3, 32, 32) and result.noise is None
    assert math.isfinite(result.metrics["loss"]) and result.metrics["steps"] == 30


def test_same_seed_same_latent(tiny_model, target, full_mask):
    options = dict(steps=4, restarts=2)
    a = project(tiny_model, target, full_mask, ProjectOptions(seed=5, **options))
    b = project(tiny_model, target, full_mask, ProjectOptions(seed=5, **options))
    c = project(tiny_model, target, full_mask, ProjectOptions(seed=6, **options))
    assert torch.equal(a.latent, b.latent) and torch.equal(a.image, b.image)
    assert not torch.equal(a.latent, c.latent)


def test_cancel_after_k_steps(tiny_model, target, full_mask):
    token, events, k = CancelToken(), [], 3

    def progress(event):
        events.append(event)
        if len(events) == k:
            token.cancel()

    with pytest.raises(Cancelled):
        project(tiny_model, target, full_mask, ProjectOptions(steps=10), progress=progress, cancel=token)
    assert [e.step for e in events] == [1, 2, 3]
    assert all(e.stage == "optimize" and e.total == 10 for e in events)


def test_regressor_is_one_forward_pass(tiny_model, target):
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 4:20, 4:28] = 1
    calls = []
    handle = tiny_model.regressor.register_forward_hook(lambda *_: calls.append(1))
    try:
        result = project(tiny_model, target, mask, ProjectOptions(method="regressor"))
    finally:
        handle.remove()
    assert len(calls) == 1
    with torch.no_grad():
        expected = tiny_model.regressor(target * mask, mask)
    assert torch.equal(result.latent, expected)
    assert result.metrics["method"] == "regressor" and result.metrics["steps"] == 0


def test_the_regressor_path_runs_no_discriminator_unless_the_loss_is_asked_for(tiny_model, target):
    mask = torch.ones(1, 1, 32, 32)
    passes = []
    first_block = next(iter(tiny_model.discriminator._blocks()))  # every D pass (features too) runs it
    handle = first_block.register_forward_hook(lambda *_: passes.append(1))
    try:
        fast = project(tiny_model, target, mask, ProjectOptions(method="regressor"))
        assert passes == [] and fast.metrics["loss"] == 0.0 and math.isfinite(fast.metrics["masked_psnr"])
        full = project(tiny_model, target, mask, ProjectOptions(method="regressor", report_loss=True))
    finally:
        handle.remove()
    assert len(passes) == 2  # the target's features, then the generated image's
    assert full.metrics["loss"] > 0 and torch.equal(full.latent, fast.latent)


def test_hybrid_runs(tiny_model, target):
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :20] = 1
    result = project(tiny_model, target, mask, ProjectOptions(method="hybrid", steps=5))
    assert set(result.metrics) == METRIC_KEYS and result.metrics["method"] == "hybrid"
    assert math.isfinite(result.metrics["masked_psnr"]) and -1 <= result.metrics["masked_ssim"] <= 1


def test_scribble_follows_strokes_better_than_w_avg(tiny_model):
    g = tiny_model.generator
    strokes = torch.zeros(1, 1, 32, 32)
    strokes[..., 8, 4:28] = 1
    strokes[..., 4:28, 20] = 1
    painted = _sample(g, 11)
    result = project(tiny_model, painted, strokes, ProjectOptions(method="scribble", steps=20))
    assert result.metrics["method"] == "scribble"
    baseline = float(L.masked_pixel_loss(_w_avg_image(g), painted, strokes))
    assert float(L.masked_pixel_loss(result.image, painted, strokes)) < 0.5 * baseline


def test_lbfgs_and_previews(tiny_model, target, full_mask):
    events = []
    g = tiny_model.generator
    result = project(tiny_model, target, full_mask,
                     ProjectOptions(steps=3, optimizer="lbfgs", preview_every=2), progress=events.append)
    assert result.metrics["masked_psnr"] > L.masked_psnr(_w_avg_image(g), target, full_mask)
    previews = [e.preview for e in events if e.preview is not None]
    assert [e.step for e in events if e.preview is not None] == [2, 3]
    assert all(p.dtype == np.uint8 and p.shape == (32, 32, 3) for p in previews)


def test_z_space_with_noise_optimisation(tiny_model, target, full_mask):
    result = project(tiny_model, target, full_mask,
                     ProjectOptions(steps=3, space="z", optimize_noise=True, perceptual="ms-ssim"))
    g = tiny_model.generator
    assert result.latent.shape == (1, g.num_ws, g.w_dim)
    assert len(result.noise) == len(g.synthesis.noise_layers)
    for n in result.noise:
        assert float(n.mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(n.square().mean()) == pytest.approx(1.0, abs=1e-4)


def test_given_latent_with_one_warmup_step_is_kept(tiny_model, target, full_mask):
    g = tiny_model.generator
    start = torch.randn(1, g.num_ws, g.w_dim)
    result = project(tiny_model, target, full_mask, ProjectOptions(steps=1, init="latent", init_latent=start))
    assert torch.equal(result.latent, start)  # the learning rate warms up from 0


def test_lpips_perceptual(tiny_model, target, full_mask):
    torch.manual_seed(0)
    with_lpips = dataclasses.replace(tiny_model, lpips=L.LPIPS(L.VGG16Features()))
    result = project(with_lpips, target, full_mask, ProjectOptions(steps=2, perceptual="lpips"))
    assert math.isfinite(result.metrics["loss"])
    with pytest.raises(ModelUnavailable):
        project(tiny_model, target, full_mask, ProjectOptions(steps=2, perceptual="lpips"))


@pytest.mark.parametrize("field, value", [
    ("method", "magic"), ("steps", 0), ("steps", 2.5), ("steps", True), ("space", "s"), ("init", "zero"),
    ("optimizer", "sgd"), ("lr", float("nan")), ("lr", 0.0), ("lr_rampup", -0.1), ("noise_ramp_length", 0),
    ("pixel_loss", "l3"), ("pixel_weight", -1.0), ("perceptual", "vgg"), ("style_weight", float("inf")),
    ("noise_reg_weight", -1), ("optimize_noise", "yes"), ("restarts", 0), ("seed", -1), ("preview_every", -2),
    ("truncation", 1.5), ("truncation", -0.1), ("truncation", float("nan")),
])
def test_invalid_options_name_the_field(tiny_model, target, full_mask, field, value):
    with pytest.raises(InvalidInput) as info:
        project(tiny_model, target, full_mask, ProjectOptions(**{field: value}))
    assert info.value.field == f"options.{field}"


def test_invalid_inputs(tiny_model, target, full_mask):
    cases = [
        ("image", dict(image=torch.zeros(1, 3, 16, 16))),
        ("image", dict(image=target.clone().fill_(float("nan")))),
        ("mask", dict(mask=torch.ones(1, 1, 16, 16))),
        ("mask", dict(mask=torch.zeros(1, 1, 32, 32))),
        ("mask", dict(mask=full_mask * 2)),
        ("options.init_latent", dict(options=ProjectOptions(init="latent"))),
        ("options.init_latent", dict(options=ProjectOptions(init="latent", init_latent=torch.zeros(2, 3)))),
        ("options.init", dict(options=ProjectOptions(space="z", init="regressor"))),
        ("options.pixel_weight", dict(options=ProjectOptions(pixel_weight=0, perceptual="none"))),
    ]
    for field, overrides in cases:
        args = dict(image=target, mask=full_mask, options=ProjectOptions(steps=1)) | overrides
        with pytest.raises(InvalidInput) as info:
            project(tiny_model, args["image"], args["mask"], args["options"])
        assert info.value.field == field


def test_missing_model_parts(tiny_model, target, full_mask):
    no_regressor = dataclasses.replace(tiny_model, regressor=None)
    no_d = dataclasses.replace(tiny_model, discriminator=None)
    for model, options in [(no_regressor, ProjectOptions(method="regressor")),
                           (no_regressor, ProjectOptions(method="hybrid")),
                           (no_regressor, ProjectOptions(init="regressor")),
                           (no_d, ProjectOptions(perceptual="discriminator")),
                           (no_d, ProjectOptions(perceptual="ms-ssim", style_weight=1.0))]:
        with pytest.raises(ModelUnavailable):
            project(model, target, full_mask, options)
    # without a D the default perceptual loss is MS-SSIM
    assert project(no_d, target, full_mask, ProjectOptions(steps=1)).metrics["method"] == "optimize"


def test_a_batch_is_independent_projections(tiny_model):
    g = tiny_model.generator
    with torch.no_grad():
        targets = g.synthesis(g.mapping(torch.randn(2, g.z_dim, generator=torch.Generator().manual_seed(5))))
    masks = torch.ones(2, 1, g.resolution, g.resolution)
    masks[1, :, :, :10] = 0
    opts = ProjectOptions(steps=8, initial_noise_factor=0.0, perceptual="none")
    batch = project(tiny_model, targets, masks, opts)
    assert batch.latent.shape == (2, g.num_ws, g.w_dim) and batch.image.shape[0] == 2
    for i in range(2):
        single = project(tiny_model, targets[i:i + 1], masks[i:i + 1], opts)
        # Adam is invariant to the per-image gradient scale that batch averaging introduces.
        assert (batch.latent[i] - single.latent[0]).abs().max() < 1e-3
    with pytest.raises(InvalidInput) as info:
        project(tiny_model, targets, masks, ProjectOptions(steps=2, restarts=2))
    assert info.value.field == "options.restarts"


def test_w_noise_defaults_follow_the_start(tiny_model, target, full_mask):
    """NVIDIA's w noise (0.05) explores from w_avg; a regressed start gets none unless asked."""
    def latent(**kw):
        return project(tiny_model, target, full_mask, ProjectOptions(steps=4, perceptual="none", **kw)).latent

    assert torch.equal(latent(method="hybrid"), latent(method="hybrid", initial_noise_factor=0.0))
    assert not torch.equal(latent(method="hybrid"), latent(method="hybrid", initial_noise_factor=0.05))
    assert torch.equal(latent(), latent(initial_noise_factor=0.05))
    assert not torch.equal(latent(), latent(initial_noise_factor=0.0))


def _truncated(g, ws: torch.Tensor, psi: float) -> torch.Tensor:
    return g.w_avg + psi * (ws - g.w_avg)


def test_regressor_truncation_pulls_the_latent_toward_w_avg(tiny_model, target):
    g, mask = tiny_model.generator, torch.ones(1, 1, 32, 32)
    mask[..., :, 16:] = 0
    plain = project(tiny_model, target, mask, ProjectOptions(method="regressor"))
    same = project(tiny_model, target, mask, ProjectOptions(method="regressor", truncation=1.0))
    assert torch.equal(same.latent, plain.latent) and torch.equal(same.image, plain.image)
    assert same.metrics["masked_psnr"] == plain.metrics["masked_psnr"]
    average = project(tiny_model, target, mask, ProjectOptions(method="regressor", truncation=0.0))
    assert torch.equal(average.latent, g.w_avg.view(1, 1, -1).expand(1, g.num_ws, -1))
    assert torch.equal(average.image, _w_avg_image(g))
    half = project(tiny_model, target, mask, ProjectOptions(method="regressor", truncation=0.5))
    torch.testing.assert_close(half.latent, _truncated(g, plain.latent, 0.5))
    with torch.no_grad():
        torch.testing.assert_close(half.image, g.synthesis(half.latent))
    assert half.metrics["masked_psnr"] == L.masked_psnr(half.image, target, mask)


def test_optimize_truncation_renders_the_truncated_best(tiny_model, target, full_mask):
    g = tiny_model.generator
    options = dict(steps=4, perceptual="none", restarts=2)
    plain = project(tiny_model, target, full_mask, ProjectOptions(**options))
    assert torch.equal(project(tiny_model, target, full_mask, ProjectOptions(truncation=1.0, **options)).latent,
                       plain.latent)
    pulled = project(tiny_model, target, full_mask, ProjectOptions(truncation=0.6, **options))
    torch.testing.assert_close(pulled.latent, _truncated(g, plain.latent, 0.6))
    with torch.no_grad():
        torch.testing.assert_close(pulled.image, g.synthesis(pulled.latent, noise_mode="const"))
    assert pulled.metrics["masked_psnr"] == L.masked_psnr(pulled.image, target, full_mask)
    assert pulled.metrics["loss"] != plain.metrics["loss"] and pulled.metrics["steps"] == 4
