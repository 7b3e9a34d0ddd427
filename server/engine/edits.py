"""Latent edits: interpolation, style mixing, spatially local blending, and rendering their results
(the server's edit jobs are in jobs.py).

Latents have their model's shape (latents.py): W+ [N, num_ws, w_dim] or a stylemap [N, C, L, L].
Every function validates its inputs and raises InvalidInput naming the argument, whose names are the
request's fields (a, b, frames, content, style, split...).

Levels: style mixing and local blending work on "levels", coarse to fine: W+ rows, or a stylemap
model's resizer outputs (L, L, 2L, 2L, ..., R, R: one per modulated layer). A style mix takes levels
before `split` from `content` and the rest from `style`; for a stylemap the mix exists only as levels,
so it has no latent of its own.

Stylemap local blend (StyleMapGAN's local editing): a stylemap cell takes `b` where any of its pixels
is selected (the mask >= 0.5, max-pooled to the cell grid: the official rule), else `a`. Mix space "w"
blends the L x L stylemaps once (the blend is itself a latent, returned); "w_plus" blends every resizer
level from `start_layer` on, each with the mask pooled to its own size.

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

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from server.models.stylemapgan import blend_levels, pool_mask

from .errors import InvalidInput, shown
from .latents import W_PLUS, as_rows, check_latent
from .pixels import to_uint8_hwc
from .validation import check_choice, check_int

INTERPOLATION_MODES = ("linear", "slerp")
MAX_INTERPOLATION_STEPS = 1000
MIX_SPACES = ("w", "w_plus")


def _check_pair(g, a, b, names=("a", "b")) -> tuple[Tensor, Tensor]:
    a, b = check_latent(g, names[0], a), check_latent(g, names[1], b)
    if a.shape != b.shape:
        raise InvalidInput(names[1], f"must have the shape of {names[0]} {tuple(a.shape)}, got {tuple(b.shape)}")
    return a, b.to(a.device)


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


def interpolate(g, a: Tensor, b: Tensor, frames: int, mode: str = "linear") -> list[Tensor]:
    """`frames` latents from `a` to `b`, both included (the ends are the inputs, bit for bit).

    `slerp` interpolates each row's offset from w_avg along a great circle (norm linearly; a stylemap
    is one row): W is not centred at 0, so slerp around w_avg keeps the in-between latents as far
    from the average as the ends are. `linear` on stylemaps is StyleMapGAN's own interpolation.
    """
    a, b = _check_pair(g, a, b)
    check_int("frames", frames, 2, MAX_INTERPOLATION_STEPS)
    if mode not in INTERPOLATION_MODES:
        raise InvalidInput("mode", f"must be one of {list(INTERPOLATION_MODES)}, got {shown(mode)}")
    w_avg = g.w_avg.to(a)
    middle = []
    for i in range(1, frames - 1):
        t = i / (frames - 1)
        if mode == "linear":
            middle.append(torch.lerp(a, b, t))
        else:
            middle.append(w_avg + _slerp(as_rows(g, a - w_avg), as_rows(g, b - w_avg), t).view_as(a))
    return [a.clone()] + middle + [b.clone()]


def style_mix(g, content: Tensor, style: Tensor, split: int) -> Tensor:
    """W+ rows < `split` (coarse: layout, pose) from `content`, rows >= `split` (fine: colour,
    texture) from `style`. W+ only: a stylemap mix exists as levels (`style_mix_levels`)."""
    if g.latent_kind != W_PLUS:
        raise InvalidInput("content", "a stylemap mix has no latent of its own; use style_mix_levels")
    content, style = _check_pair(g, content, style, ("content", "style"))
    check_int("split", split, 0, g.num_levels)
    return torch.cat([content[:, :split], style[:, split:]], dim=1)


def style_mix_levels(g, content: Tensor, style: Tensor, split: int) -> list[Tensor]:
    """A stylemap model's resizer levels: those before `split` from `content`, the rest from `style`."""
    content, style = _check_pair(g, content, style, ("content", "style"))
    check_int("split", split, 0, g.num_levels)
    device = g.w_avg.device
    coarse, fine = g.resize(content.to(device, torch.float32)), g.resize(style.to(device, torch.float32))
    return coarse[:split] + fine[split:]


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


@torch.no_grad()
def stylemap_blend(g, a: Tensor, b: Tensor, mask: Tensor, start_layer: int = 0,
                   mix_space: str = "w") -> tuple[Tensor | None, Tensor]:
    """(the blended stylemap, or None for "w_plus"; its image [N, 3, R, R]) of a stylemap model:
    `a` outside `mask`, `b` in the cells it selects (module docstring)."""
    a, b = _check_pair(g, a, b)
    mask = _check_mask(mask, a.shape[0])
    check_choice("mix_space", mix_space, MIX_SPACES)
    check_int("start_layer", start_layer, 0, 0 if mix_space == "w" else g.num_levels)
    device = g.w_avg.device
    a, b, mask = (t.to(device, torch.float32) for t in (a, b, mask))
    if mix_space == "w":
        blended = torch.where(pool_mask(mask, a.shape[-1]), b, a)
        return blended, g.synthesis(blended)
    return None, g.synthesize_levels(blend_levels(g.resize(a), g.resize(b), mask, start_layer))


@torch.no_grad()
def local_blend(g, a: Tensor, b: Tensor, mask: Tensor, start_layer: int,
                noise_mode: str = "const", seed: int = 0) -> Tensor:
    """Image [N, 3, R, R] (on the generator's device) of a W+ model: `a` outside `mask`, `b` inside,
    from W+ row `start_layer` on (see the module docstring). `mask` [1 or N, 1, H, W] in [0, 1], any
    H, W; `seed` draws the shared noise when `noise_mode` is 'random'."""
    if g.latent_kind != W_PLUS:
        raise InvalidInput("a", "a stylemap model blends stylemaps: use stylemap_blend")
    w_a, w_b = _check_pair(g, a, b)
    mask = _check_mask(mask, w_a.shape[0])
    check_int("start_layer", start_layer, 0, g.num_ws)
    if noise_mode not in ("const", "none", "random"):
        raise InvalidInput("noise_mode", f"must be 'const', 'none' or 'random', got {shown(noise_mode)}")
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


# ----------------------------------------------------------------------------- rendering


@torch.no_grad()
def render(g, latent: Tensor) -> np.ndarray:
    """A latent [1, *latent_shape] -> uint8 RGB (R, R, 3), constant noise."""
    return to_uint8_hwc(g.synthesis(latent.to(g.w_avg.device), noise_mode="const"))[0]


@torch.no_grad()
def render_levels(g, levels: list[Tensor]) -> np.ndarray:
    """A stylemap model's resizer levels (`style_mix_levels`) -> uint8 RGB (R, R, 3)."""
    return to_uint8_hwc(g.synthesize_levels(levels))[0]
