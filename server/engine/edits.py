"""Latent edits: interpolation, style mixing, spatially local blending, truncation.

Latents are W+ [N, num_ws, w_dim]. Every function validates its inputs and raises InvalidInput
naming the argument.

Local blend (in the spirit of StyleMapGAN's local editing): both latents are synthesised block
by block, and from a chosen W+ row on, each block's feature map `x` and skip image `img` are
blended spatially, `lerp(A, B, mask)` with the mask area-resized to the block's resolution; both
streams continue from the blend. W+ rows map to blocks as in `generator.py`: the 4x4 block's conv
uses row 0 and each later block's first conv row is 2k - 1 for the k-th block (k = 0 for 4x4).
A block blends when its first conv row is >= `start_layer`, so `start_layer` 0 blends from the
4x4 block on (B's layout inside the mask), and larger values keep A's coarse structure and take
only B's finer styles inside the mask.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InvalidInput, translate_oom
from .validation import check_int

INTERPOLATION_MODES = ("linear", "slerp")
MAX_INTERPOLATION_STEPS = 1000


def _check_latent(g, name: str, w) -> Tensor:
    shape = (g.num_ws, g.w_dim)
    if not isinstance(w, Tensor) or not w.is_floating_point() or w.ndim != 3 or tuple(w.shape[1:]) != shape:
        got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise InvalidInput(name, f"must be a float W+ tensor of shape (N, {shape[0]}, {shape[1]}), got {got}")
    if w.shape[0] < 1 or not bool(torch.isfinite(w).all()):
        raise InvalidInput(name, "must be non-empty and finite")
    return w


def _check_pair(g, w_a, w_b) -> tuple[Tensor, Tensor]:
    w_a, w_b = _check_latent(g, "w_a", w_a), _check_latent(g, "w_b", w_b)
    if w_a.shape != w_b.shape:
        raise InvalidInput("w_b", f"must have the shape of w_a {tuple(w_a.shape)}, got {tuple(w_b.shape)}")
    return w_a, w_b.to(w_a.device)


def _slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Per-row spherical interpolation of directions, with the norms interpolated linearly."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-8), b / nb.clamp_min(1e-8)
    omega = torch.acos((ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0))
    so = torch.sin(omega)
    parallel = so.abs() < 1e-6
    sa = torch.where(parallel, torch.full_like(so, 1 - t), torch.sin((1 - t) * omega) / so)
    sb = torch.where(parallel, torch.full_like(so, t), torch.sin(t * omega) / so)
    return (sa * ua + sb * ub) * torch.lerp(na, nb, t)


def interpolate(g, w_a: Tensor, w_b: Tensor, n: int, mode: str = "linear") -> list[Tensor]:
    """`n` W+ latents from `w_a` to `w_b`, both included (the ends are the inputs, bit for bit).

    `slerp` interpolates each row's offset from w_avg along a great circle (norm linearly): W is
    not centred at 0, so slerp around w_avg keeps the in-between latents as far from the average
    as the ends are.
    """
    w_a, w_b = _check_pair(g, w_a, w_b)
    check_int("n", n, 2, MAX_INTERPOLATION_STEPS)
    if mode not in INTERPOLATION_MODES:
        raise InvalidInput("mode", f"must be one of {list(INTERPOLATION_MODES)}, got {mode!r}")
    w_avg = g.w_avg.to(w_a)
    middle = []
    for i in range(1, n - 1):
        t = i / (n - 1)
        if mode == "linear":
            middle.append(torch.lerp(w_a, w_b, t))
        else:
            middle.append(w_avg + _slerp(w_a - w_avg, w_b - w_avg, t))
    return [w_a.clone()] + middle + [w_b.clone()]


def style_mix(w_a: Tensor, w_b: Tensor, split: int) -> Tensor:
    """Rows < `split` (coarse: layout, pose) from A, rows >= `split` (fine: colour, texture) from B."""
    for name, w in (("w_a", w_a), ("w_b", w_b)):
        if not isinstance(w, Tensor) or w.ndim != 3 or not w.is_floating_point():
            raise InvalidInput(name, "must be a float W+ tensor [N, num_ws, w_dim]")
    if w_a.shape != w_b.shape:
        raise InvalidInput("w_b", f"must have the shape of w_a {tuple(w_a.shape)}, got {tuple(w_b.shape)}")
    check_int("split", split, 0, w_a.shape[1])
    return torch.cat([w_a[:, :split], w_b[:, split:].to(w_a.device)], dim=1)


def truncate(g, w: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
    """Move rows < `cutoff` (all when None) toward w_avg: w_avg + psi * (w - w_avg)."""
    w = _check_latent(g, "w", w)
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
        raise InvalidInput("psi", f"must be a finite number, got {psi!r}")
    rows = g.num_ws if cutoff is None else check_int("cutoff", cutoff, 0, g.num_ws)
    out = w.clone()
    out[:, :rows] = torch.lerp(g.w_avg.to(w), w[:, :rows], float(psi))
    return out


def _check_mask(mask, n: int) -> Tensor:
    if (not isinstance(mask, Tensor) or not mask.is_floating_point() or mask.ndim != 4 or mask.shape[1] != 1
            or mask.shape[0] not in (1, n) or mask.shape[2] < 1 or mask.shape[3] < 1):
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InvalidInput("mask", f"must be a float tensor of shape (1 or {n}, 1, H, W), got {got}")
    if not bool(((mask >= 0) & (mask <= 1)).all()):
        raise InvalidInput("mask", "values must lie in [0, 1]")
    return mask


def _block_noise(g, n: int, noise_mode: str, seed: int, device) -> list[list[Tensor] | None]:
    """Per-block noise, drawn once so both streams share it ('random' mode only)."""
    if noise_mode != "random":
        return [None] * len(g.synthesis.blocks)
    gen = torch.Generator(device=device).manual_seed(seed)
    return [[torch.randn(n, 1, layer.resolution, layer.resolution, generator=gen, device=device)
             for layer in block.layers] for block in g.synthesis.blocks]


@translate_oom
@torch.no_grad()
def local_blend(g, w_a: Tensor, w_b: Tensor, mask: Tensor, start_layer: int,
                noise_mode: str = "const", seed: int = 0) -> Tensor:
    """Image [N, 3, R, R] (on the generator's device): A outside `mask`, B inside, from W+ row
    `start_layer` on (see the module docstring). `mask` [1 or N, 1, H, W] in [0, 1], any H, W;
    `seed` draws the shared noise when `noise_mode` is 'random'."""
    w_a, w_b = _check_pair(g, w_a, w_b)
    mask = _check_mask(mask, w_a.shape[0])
    check_int("start_layer", start_layer, 0, g.num_ws)
    if noise_mode not in ("const", "none", "random"):
        raise InvalidInput("noise_mode", f"must be 'const', 'none' or 'random', got {noise_mode!r}")
    check_int("seed", seed, 0, 2 ** 63 - 1)
    device = g.w_avg.device
    w_a, w_b, mask = (t.to(device, torch.float32) for t in (w_a, w_b, mask))
    noises = _block_noise(g, w_a.shape[0], noise_mode, seed, device)
    xa = xb = ia = ib = None
    first_row = 0
    blocks = zip(g.synthesis.block_ws(w_a), g.synthesis.block_ws(w_b), noises)
    for (block, rows_a), (_, rows_b), noise in blocks:
        xa, ia = block(xa, ia, rows_a, noise_mode, noise)
        xb, ib = block(xb, ib, rows_b, noise_mode, noise)
        if first_row >= start_layer:
            m = F.adaptive_avg_pool2d(mask, xa.shape[-2:])
            xa = xb = torch.lerp(xa, xb, m)
            ia = ib = torch.lerp(ia, ib, m)
        first_row += len(block.layers)
    return ia
