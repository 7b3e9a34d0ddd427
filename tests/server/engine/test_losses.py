"""Losses and metrics of server.engine.losses, on small images and the tiny model's discriminator."""
from __future__ import annotations

import math

import pytest
import torch

from server.engine import losses as L
from server.engine.errors import ModelUnavailable

VGG_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def _image(seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _half_mask(size: int = 32) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., :, : size // 2] = 1
    return mask


def _scramble_uncovered(x: torch.Tensor, mask: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.where(mask > 0, x, _image(seed, x.shape[-1]) * 5)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return L.VGG16Features()


def _losses(model, vgg) -> dict:
    d = model.discriminator
    return {
        "l2": L.PixelLoss("l2"),
        "l1": L.PixelLoss("l1"),
        "discriminator": L.DiscriminatorLoss(d),
        "style": L.DiscriminatorLoss(d, feature_weight=0.0, style_weight=1.0),
        "ms-ssim": L.MSSSIMLoss(),
        "lpips": L.LPIPS(vgg),
    }


@pytest.mark.parametrize("name", ["l2", "l1", "discriminator", "style", "ms-ssim", "lpips"])
def test_zero_for_identical_positive_for_different_and_blind_to_uncovered(tiny_model, vgg, name):
    loss = _losses(tiny_model, vgg)[name]
    pred, target, mask = _image(1), _image(2), _half_mask()
    with torch.no_grad():
        assert abs(float(loss(target, target, mask))) < 1e-5
        value = float(loss(pred, target, mask))
        moved = float(loss(_scramble_uncovered(pred, mask, 3), _scramble_uncovered(target, mask, 4), mask))
    assert value > 1e-4
    assert moved == pytest.approx(value, rel=1e-6, abs=1e-7)


def test_bound_loss_equals_one_off_loss(tiny_model):
    loss = L.DiscriminatorLoss(tiny_model.discriminator, style_weight=0.5)
    pred, target, mask = _image(1), _image(2), _half_mask()
    with torch.no_grad():
        bound = float(loss.bind(target, mask)(pred))
        assert bound == pytest.approx(float(loss(pred, target, mask)), rel=1e-6)


def test_pixel_loss_known_values():
    target, mask = _image(5), _half_mask()
    pred = target + 0.5
    pred[..., 16:] = 100  # uncovered
    assert float(L.masked_pixel_loss(pred, target, mask, "l2")) == pytest.approx(0.25, rel=1e-5)
    assert float(L.masked_pixel_loss(pred, target, mask, "l1")) == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ValueError):
        L.PixelLoss("l3")


def test_ms_ssim_scale_count():
    assert [L.ms_ssim_scales(s) for s in (8, 16, 32, 64, 128, 256, 1024)] == [1, 1, 2, 3, 4, 5, 5]


def test_psnr_known_values():
    target, mask = _image(6), _half_mask()
    pred = target + 0.2
    pred[..., 16:] = -7  # uncovered
    assert L.masked_psnr(pred, target, mask) == pytest.approx(20.0, abs=1e-3)  # 10 log10(4 / 0.04)
    assert L.masked_psnr(target, target, mask) == math.inf
    assert math.isnan(L.masked_psnr(pred, target, torch.zeros_like(mask)))


def test_ssim_known_values():
    mask = _half_mask()
    a, b = 0.2, -0.1
    const_a, const_b = torch.full((1, 3, 32, 32), a), torch.full((1, 3, 32, 32), b)
    a, b = (a + 1) / 2, (b + 1) / 2  # SSIM sees [0, 1] intensities
    expected = (2 * a * b + L.SSIM_C1) / (a * a + b * b + L.SSIM_C1)  # no contrast: only luminance
    assert L.masked_ssim(const_a, const_b, mask) == pytest.approx(expected, abs=1e-4)
    x = _image(7)
    assert L.masked_ssim(x, x, mask) == pytest.approx(1.0, abs=1e-5)
    assert L.masked_ssim(_scramble_uncovered(x, mask, 8), x, mask) == pytest.approx(1.0, abs=1e-5)
    assert L.masked_ssim(-x, x, mask) < 0  # anti-correlated


def test_vgg16_keys_match_torchvision_and_load(vgg, tmp_path):
    expected = {f"features.{i}.{p}" for i in VGG_CONV_INDICES for p in ("weight", "bias")}
    assert set(vgg.state_dict()) == expected
    sd = dict(vgg.state_dict())
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision's full file also holds the classifier
    path = tmp_path / "vgg16.pth"
    torch.save(sd, path)
    loaded = L.load_vgg16(path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in vgg.state_dict().items())
    taps = loaded(_image(1))
    assert [t.shape[1] for t in taps] == list(L.VGG16Features.CHANNELS)
    assert [t.shape[-1] for t in taps] == [32, 16, 8, 4, 2]


def test_vgg16_and_lpips_loader_errors(tmp_path):
    with pytest.raises(ModelUnavailable):
        L.load_vgg16(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelUnavailable):
        L.load_vgg16(bad)
    with pytest.raises(ModelUnavailable, match="lin0"):
        L.load_lpips_weights(bad)


def test_lpips_learned_weights(vgg, tmp_path):
    path = tmp_path / "vgg.pth"
    channels = enumerate(L.VGG16Features.CHANNELS)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in channels}, path)
    lpips = L.LPIPS(vgg, L.load_lpips_weights(path))
    pred, target, mask = _image(1), _image(2), _half_mask()
    assert float(lpips(target, target, mask)) == pytest.approx(0.0, abs=1e-6)
    uniform = float(L.LPIPS(vgg)(pred, target, mask))
    assert 0 < float(lpips(pred, target, mask)) < uniform  # weights in [0, 1) shrink each term


def test_lpips_downsamples_large_images(vgg):
    lpips = L.LPIPS(vgg, max_size=16)  # stands in for the 256 px limit on big images
    pred, target, mask = _image(1), _image(2), _half_mask()
    with torch.no_grad():
        assert float(lpips(target, target, mask)) == pytest.approx(0.0, abs=1e-6)
        value = float(lpips(pred, target, mask))
        moved = float(lpips(_scramble_uncovered(pred, mask, 3), target, mask))
    assert value > 0 and moved == pytest.approx(value, rel=1e-6)


def test_noise_regularization_and_normalisation():
    gen = torch.Generator().manual_seed(0)
    white = [torch.randn(1, 1, 32, 32, generator=gen), torch.randn(1, 1, 8, 8, generator=gen)]
    coarse = torch.randn(1, 1, 4, 4, generator=gen)
    smooth = [torch.nn.functional.interpolate(coarse, size=32, mode="bilinear")]
    L.normalize_noise_(white + smooth)
    for n in white + smooth:
        assert float(n.mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(n.square().mean()) == pytest.approx(1.0, abs=1e-4)
    assert float(L.noise_regularization(smooth)) > 10 * float(L.noise_regularization(white[:1]))


def test_wplus_prior():
    w = torch.randn(1, 1, 8).expand(1, 6, 8)
    assert float(L.wplus_prior(w)) == pytest.approx(0.0, abs=1e-12)
    w2 = w.clone()
    w2[:, 0] += 1.0
    expected = ((w2 - w2.mean(1, keepdim=True)) ** 2).mean()
    assert float(L.wplus_prior(w2)) == pytest.approx(float(expected))
