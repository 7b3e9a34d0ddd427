"""server.engine.edits on the tiny random 32x32 generator."""
from __future__ import annotations

import pytest
import torch

from server.engine.edits import interpolate, local_blend, style_mix
from server.engine.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def g(tiny_model):
    return tiny_model.generator


def _wplus(g, seed: int, n: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ws = g.mapping(torch.randn(n, g.z_dim, generator=gen))
    return ws + 0.1 * torch.randn(ws.shape, generator=gen)  # distinct rows, a true W+ latent


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_interpolate_endpoints_exact(g, mode):
    a, b = _wplus(g, 1), _wplus(g, 2)
    path = interpolate(g, a, b, 5, mode=mode)
    assert len(path) == 5
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert all(w.shape == a.shape and torch.isfinite(w).all() for w in path)
    if mode == "linear":
        assert torch.allclose(path[2], (a + b) / 2, atol=1e-6)
    else:  # slerp keeps the rows' distance from w_avg in between the ends' distances
        da, db, dm = ((w - g.w_avg).norm(dim=-1) for w in (a, b, path[2]))
        assert torch.all(dm >= torch.minimum(da, db) - 1e-4) and torch.all(dm <= torch.maximum(da, db) + 1e-4)


def test_interpolate_validation(g):
    a, b = _wplus(g, 1), _wplus(g, 2)
    for kwargs, field in [(dict(frames=1), "frames"), (dict(frames=3, mode="cubic"), "mode"),
                          (dict(frames=3, b=_wplus(g, 2, n=2)), "b"), (dict(frames=3, a=a[:, :3]), "a")]:
        args = dict(a=a, b=b) | kwargs
        with pytest.raises(InvalidInput) as info:
            interpolate(g, args["a"], args["b"], args["frames"], mode=args.get("mode", "linear"))
        assert info.value.field == field


def test_style_mix(g):
    a, b = _wplus(g, 1), _wplus(g, 2)
    assert torch.equal(style_mix(g, a, b, 0), b)
    assert torch.equal(style_mix(g, a, b, g.num_ws), a)
    mixed = style_mix(g, a, b, 3)
    assert torch.equal(mixed[:, :3], a[:, :3]) and torch.equal(mixed[:, 3:], b[:, 3:])
    for split in (-1, g.num_ws + 1, 1.5):
        with pytest.raises(InvalidInput) as info:
            style_mix(g, a, b, split)
        assert info.value.field == "split"


def test_local_blend_extremes(g):
    a, b = _wplus(g, 4, n=2), _wplus(g, 5, n=2)
    with torch.no_grad():
        img_a, img_b = g.synthesis(a), g.synthesis(b)
    zeros, ones = torch.zeros(1, 1, 64, 64), torch.ones(2, 1, 32, 32)
    assert torch.allclose(local_blend(g, a, b, zeros, 0), img_a, atol=1e-5)
    assert torch.allclose(local_blend(g, a, b, ones, 0), img_b, atol=1e-5)
    assert torch.allclose(local_blend(g, a, b, ones, g.num_ws), img_a, atol=1e-5)  # no block blends


def test_local_blend_is_local(g):
    a, b = _wplus(g, 4), _wplus(g, 5)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, 16:] = 1
    out = local_blend(g, a, b, mask, start_layer=1)
    with torch.no_grad():
        img_a, img_b = g.synthesis(a), g.synthesis(b)
    left, right = (slice(None), slice(None), slice(None), slice(0, 8)), (..., slice(24, 32))
    assert (out[left] - img_a[left]).abs().mean() < (out[left] - img_b[left]).abs().mean()
    assert (out[right] - img_b[right]).abs().mean() < (out[right] - img_a[right]).abs().mean()
    random_1 = local_blend(g, a, b, mask, 1, noise_mode="random", seed=3)
    assert torch.equal(random_1, local_blend(g, a, b, mask, 1, noise_mode="random", seed=3))


def test_local_blend_validation(g):
    a, b = _wplus(g, 4), _wplus(g, 5)
    mask = torch.ones(1, 1, 32, 32)
    cases = [(dict(start_layer=-1), "start_layer"), (dict(start_layer=g.num_ws + 1), "start_layer"),
             (dict(mask=mask * 2), "mask"), (dict(mask=torch.ones(1, 3, 32, 32)), "mask"),
             (dict(noise_mode="loud"), "noise_mode")]
    for kwargs, field in cases:
        args = dict(mask=mask, start_layer=0, noise_mode="const") | kwargs
        with pytest.raises(InvalidInput) as info:
            local_blend(g, a, b, args["mask"], args["start_layer"], noise_mode=args["noise_mode"])
        assert info.value.field == field
