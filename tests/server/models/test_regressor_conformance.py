"""Conformance of server.models.regressor with the latent-composition encoder vectors.

The reference vectors (``latentcomp_enc_small.{pth,npz}``, produced by the original
latent-composition code) live in ``../shared/conformance`` next to the repository;
tests that need them are skipped when that folder is absent. The config, w_avg and
loader-error tests run everywhere.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from server.models.latentcomp import read_latentcomp_checkpoint
from server.models.regressor import CONFIG_KEYS, LatentRegressor, build_regressor, regressor_config
from tests.support.paths import CONFORMANCE as CONFORMANCE_DIR

CKPT = CONFORMANCE_DIR / "latentcomp_enc_small.pth"
VECTORS = CONFORMANCE_DIR / "latentcomp_enc_small.npz"

needs_vectors = pytest.mark.skipif(
    not (CKPT.is_file() and VECTORS.is_file()),
    reason=f"shared conformance vectors not found at {CONFORMANCE_DIR}",
)

CASES = ["main", "r64", "r96", "r384", "r512"]
TOL_WPLUS = 1e-4
TOL_LAYER4 = 5e-4
TOL_RESIZE = 1e-6


@pytest.fixture(scope="module")
def vectors():
    with np.load(VECTORS) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def published():
    return read_latentcomp_checkpoint(CKPT)


def _max_abs(a: torch.Tensor, b: np.ndarray) -> float:
    return float((a.detach().cpu() - torch.from_numpy(b)).abs().max())


# ------------------------------------------------------------- conformance


@needs_vectors
def test_checkpoint_config(published, vectors):
    cfg = regressor_config(published)
    depth = int(vectors["resnet_depth"])
    assert depth == 18
    assert cfg == {
        "block_counts": [2, 2, 2, 2],
        "widths": [64, 128, 256, 512],
        "in_channels": int(vectors["channels_in"]),
        "num_ws": int(vectors["n_latent"]),
        "w_dim": int(vectors["w_dim"]),
        "input_size": int(vectors["native_size"]),
        "has_w_avg": False,
    }
    assert sorted(published.state_dict()) == sorted(str(k) for k in vectors["state_dict_keys"])
    assert sum(p.numel() for p in published.parameters()) == json.loads(str(vectors["info_json"]))["num_params"]
    assert not published.training
    assert not any(m.training for m in published.modules())


@needs_vectors
@pytest.mark.parametrize("case", CASES)
def test_case(published, vectors, case):
    image = torch.from_numpy(vectors[f"{case}_image"])
    mask = torch.from_numpy(vectors[f"{case}_mask"])
    masked = image * mask
    with torch.no_grad():
        net_input = published.build_input(masked, mask)
        assert torch.equal(net_input, torch.from_numpy(vectors[f"{case}_net_input"]))

        resized = published.resize_input(net_input)
        assert resized.shape[-2:] == (256, 256)
        if case == "main":
            err_resize = float((resized - net_input).abs().max())
        else:
            err_resize = _max_abs(resized, vectors[f"{case}_after_resize"])
        assert err_resize <= TOL_RESIZE

        layer4 = published.features(masked, mask)
        err_layer4 = _max_abs(layer4, vectors[f"{case}_layer4"])
        assert err_layer4 <= TOL_LAYER4

        wplus = published(masked, mask)
        assert wplus.shape == vectors[f"{case}_wplus"].shape
        err_wplus = _max_abs(wplus, vectors[f"{case}_wplus"])
        assert err_wplus <= TOL_WPLUS
    print(f"{case}: resize {err_resize:.3g} layer4 {err_layer4:.3g} wplus {err_wplus:.3g}")


@needs_vectors
def test_mask_none(published, vectors):
    image = torch.from_numpy(vectors["main_image"][:1])
    with torch.no_grad():
        wplus = published(image)
        explicit = published(image, torch.ones_like(image[:, :1]))
    err = _max_abs(wplus, vectors["mask_none_wplus"])
    assert err <= TOL_WPLUS
    assert torch.equal(wplus, explicit)
    print(f"mask_none: wplus {err:.3g}")


def test_input_validation():
    model = LatentRegressor(num_ws=2, widths=(8, 16, 32, 64), w_dim=16, input_size=32)
    img = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="masked_image"):
        model(torch.zeros(1, 4, 32, 32))
    with pytest.raises(ValueError, match="masked_image"):
        model(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="mask"):
        model(img, torch.ones(1, 1, 16, 32))
    with pytest.raises(ValueError, match="mask"):
        model(img, torch.ones(2, 1, 32, 32))


# --------------------------------------------------------- config / w_avg


def _randomise_bn(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _random_input(n: int, size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(n, 1, size, size, generator=g) > 0.3).float()
    image = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return image * mask, mask


def test_config_round_trip():
    torch.manual_seed(0)
    model = LatentRegressor(
        num_ws=10, block_counts=(3, 4, 6, 3), widths=(32, 64, 128, 256),
        w_dim=64, input_size=64, has_w_avg=True,
    )
    _randomise_bn(model, 1)
    model.set_w_avg(torch.randn(64))
    cfg = regressor_config(model)
    assert set(cfg) == set(CONFIG_KEYS)
    cfg = json.loads(json.dumps(cfg))
    clone = build_regressor(cfg)
    assert regressor_config(clone) == cfg
    assert not clone.training
    clone.load_state_dict(model.state_dict(), strict=True)
    masked, mask = _random_input(2, 80, 2)
    with torch.no_grad():
        a, b = model(masked, mask), clone(masked, mask)
    assert a.shape == (2, 10, 64)
    assert torch.equal(a, b)
    assert clone.features(masked, mask).shape == (2, 256, 2, 2)

    with pytest.raises(ValueError, match="unknown keys"):
        build_regressor({**cfg, "depth": 34})
    with pytest.raises(ValueError, match="missing keys"):
        build_regressor({k: v for k, v in cfg.items() if k != "num_ws"})
    with pytest.raises(ValueError, match="widths"):
        build_regressor({**cfg, "widths": [32, 64, 128]})


def test_w_avg_added():
    torch.manual_seed(0)
    model = LatentRegressor(num_ws=4, widths=(8, 16, 32, 64), w_dim=16, input_size=32, has_w_avg=True)
    assert "w_avg" in model.state_dict()
    masked, mask = _random_input(2, 40, 3)
    with torch.no_grad():
        base = model(masked, mask)
        w_avg = torch.randn(16)
        model.set_w_avg(w_avg)
        shifted = model(masked, mask)
    torch.testing.assert_close(shifted - base, w_avg.expand_as(base), atol=1e-6, rtol=0)

    plain = LatentRegressor(num_ws=4, widths=(8, 16, 32, 64), w_dim=16, input_size=32)
    assert plain.w_avg is None and "w_avg" not in plain.state_dict()
    with pytest.raises(ValueError, match="w_avg"):
        plain.set_w_avg(w_avg)
    with pytest.raises(ValueError, match="w_avg"):
        model.set_w_avg(torch.zeros(8))


# ----------------------------------------------------------------- loader


def _small_model() -> LatentRegressor:
    torch.manual_seed(5)
    model = LatentRegressor(num_ws=3, block_counts=(1, 2, 1, 1), widths=(8, 16, 32, 64), w_dim=16)
    _randomise_bn(model, 6)
    return model


def _published_layout(state_dict) -> dict:
    return {"state_dict": state_dict, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3, "val_loss": 1.5}


def test_loader_small_layouts(tmp_path):
    model = _small_model()
    masked, mask = _random_input(1, 96, 7)
    with torch.no_grad():
        expected = model(masked, mask)
    sd = model.state_dict()
    variants = {
        "plain.pth": _published_layout(sd),
        "dataparallel.pth": _published_layout({f"module.{k}": v for k, v in sd.items()}),
        "bare.pth": dict(sd),
    }
    for name, obj in variants.items():
        path = tmp_path / name
        torch.save(obj, path)
        loaded = read_latentcomp_checkpoint(path, w_dim=16)
        assert regressor_config(loaded) == regressor_config(model), name
        assert not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(masked, mask), expected), name


class _NotAllowed:
    pass


def test_loader_wrong_layout(tmp_path):
    sd = _small_model().state_dict()

    def check(name: str, obj, match: str, **kwargs):
        path = tmp_path / name
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        else:
            torch.save(obj, path)
        with pytest.raises(ValueError, match=match) as info:
            read_latentcomp_checkpoint(path, **kwargs)
        assert name in str(info.value)

    check("no_state_dict.pth", {"model": {"a": torch.zeros(1)}, "epoch": 1}, "state_dict")
    check("list.pth", [torch.zeros(1)], "state_dict")
    check("no_head.pth", _published_layout({k: v for k, v in sd.items() if not k.startswith("layer5")}),
          "layer5.conv5.weight", w_dim=16)
    check("no_conv1.pth", _published_layout({k: v for k, v in sd.items() if not k.startswith("conv1")}),
          "conv1.weight", w_dim=16)
    check("extra_key.pth", _published_layout({**sd, "fc.weight": torch.zeros(2, 2)}), "does not match", w_dim=16)
    check("bad_w_dim.pth", _published_layout(sd), "multiple of w_dim")  # default w_dim 512
    check("garbage.pth", b"this is not a checkpoint", "weights_only")
    check("unsafe.pth", {"state_dict": _NotAllowed()}, "weights_only")
    with pytest.raises(FileNotFoundError):
        read_latentcomp_checkpoint(tmp_path / "missing.pth")
