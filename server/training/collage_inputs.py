"""Collage-like training inputs for encoders and regressors, made from a batch of real or generated images.

What an artist sends a projection is rarely a clean portrait: pieces of other photos pasted over it,
flat painted strokes, transparent holes. An encoder trained only on clean images (or, as in
latent-composition (Chai et al. 2021), on masked ones) keeps little of such a collage. Each image of the
batch becomes one of these kinds:

* ``holes``: 10-70% of the image is uncovered, in blobs (latent-composition's masks,
  `masks.masks_with_fraction`); uncovered pixels reach the network as 0 (mid-grey), as in serving. The target
  is the whole image: the network learns to fill the hole with something plausible.
* ``pieces``: one to three ellipses of another image of the batch pasted over it, about the size of a
  face part (5-35% of the side each). The target is the collage itself.
* ``strokes``: one to four flat-coloured brush lines (2-6% of the side wide) and, every other image, a
  flat ellipse, painted over it. The target is the painted image.

All kinds share `visible` (1 where the input has pixels: not 1 only for holes), which regressors with a
mask input receive. Sizes are relative to the image side, so the same mix serves 64 px and 256 px inputs.
Draws from the given `torch.Generator` only: a seeded trainer stays reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from server.training.masks import masks_with_fraction

KINDS = ("holes", "pieces", "strokes")


@dataclass
class CollageBatch:
    inputs: Tensor  # [N, 3, H, W] in [-1, 1], 0 where uncovered
    targets: Tensor  # [N, 3, H, W] what a projection of `inputs` should give back
    visible: Tensor  # [N, 1, H, W] 1 where `inputs` has pixels
    kinds: list[str]


def _grid(n: int, size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates in [0, 1], shaped to broadcast against [n, k] shape parameters."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return c.view(1, 1, 1, size).expand(n, 1, size, size), c.view(1, 1, size, 1).expand(n, 1, size, size)


def _rand(gen: torch.Generator, *shape, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=gen)


def ellipse_masks(n: int, size: int, gen: torch.Generator, count: tuple[int, int], radius: tuple[float, float],
                  device="cpu") -> Tensor:
    """float32 [n, 1, size, size]: the union of `count` (min, max) axis-aligned ellipses per image,
    radii drawn from `radius` (fractions of the side), centres inside the middle 80% of the image."""
    k = count[1]
    cx, cy = _rand(gen, n, k, 1, 1, lo=0.1, hi=0.9), _rand(gen, n, k, 1, 1, lo=0.1, hi=0.9)
    rx, ry = _rand(gen, n, k, 1, 1, lo=radius[0], hi=radius[1]), _rand(gen, n, k, 1, 1, lo=radius[0], hi=radius[1])
    used = torch.arange(k).view(1, k) < torch.randint(count[0], count[1] + 1, (n, 1), generator=gen)
    x, y = _grid(n, size)
    inside = ((x - cx) / rx).square() + ((y - cy) / ry).square() <= 1.0
    return (inside & used.view(n, k, 1, 1)).any(dim=1, keepdim=True).float().to(device)


def stroke_masks(n: int, size: int, gen: torch.Generator, count: tuple[int, int] = (1, 4),
                 width: tuple[float, float] = (0.02, 0.06)) -> Tensor:
    """bool [n, k, size, size] (k = count's max): straight brush lines between random points, each
    `width` (fractions of the side) wide; lines beyond the image's own count are empty."""
    k = count[1]
    a = _rand(gen, n, k, 2, lo=0.05, hi=0.95)
    b = _rand(gen, n, k, 2, lo=0.05, hi=0.95)
    half = _rand(gen, n, k, lo=width[0], hi=width[1]) / 2
    used = torch.arange(k).view(1, k) < torch.randint(count[0], count[1] + 1, (n, 1), generator=gen)
    x, y = _grid(n, size)
    ax, ay = a[..., 0].view(n, k, 1, 1), a[..., 1].view(n, k, 1, 1)
    dx, dy = (b - a)[..., 0].view(n, k, 1, 1), (b - a)[..., 1].view(n, k, 1, 1)
    t = (((x - ax) * dx + (y - ay) * dy) / (dx.square() + dy.square() + 1e-8)).clamp(0, 1)
    dist = ((x - ax - t * dx).square() + (y - ay - t * dy).square()).sqrt()
    return (dist <= half.view(n, k, 1, 1)) & used.view(n, k, 1, 1)


def _paint(images: Tensor, masks: Tensor, colours: Tensor) -> Tensor:
    """Paint each of masks' k layers ([n, k, H, W] bool) in order, in its flat colour ([n, k, 3])."""
    out = images.clone()
    for j in range(masks.shape[1]):
        m = masks[:, j:j + 1].to(images.device)
        out = torch.where(m, colours[:, j].view(-1, 3, 1, 1).to(images.device), out)
    return out


def painted_strokes(images: Tensor, gen: torch.Generator) -> Tensor:
    """`images` with flat brush lines and (every other image) a flat blob painted over them."""
    n, _, size, _ = images.shape
    lines = stroke_masks(n, size, gen)
    blob = ellipse_masks(n, size, gen, (0, 1), (0.08, 0.25)).bool()
    layers = torch.cat([blob, lines], dim=1)
    colours = _rand(gen, n, layers.shape[1], 3, lo=-1.0, hi=1.0)
    return _paint(images, layers, colours)


def pasted_pieces(images: Tensor, others: Tensor, gen: torch.Generator) -> Tensor:
    """`images` with one to three part-sized ellipses of `others` pasted over them."""
    n, _, size, _ = images.shape
    m = ellipse_masks(n, size, gen, (1, 3), (0.05, 0.35), device=images.device)
    return images * (1 - m) + others * m


def collage_batch(images: Tensor, gen: torch.Generator, kinds: tuple[str, ...] = KINDS,
                  others: Tensor | None = None) -> CollageBatch:
    """Turn each image into a collage of one of `kinds` (drawn uniformly). Pieces come from `others`
    (default: the batch rolled by one, so each image gets another's pieces)."""
    n, _, size, _ = images.shape
    others = images.roll(1, dims=0) if others is None else others
    which = torch.randint(len(kinds), (n,), generator=gen)
    inputs, targets = images.clone(), images.clone()
    visible = torch.ones(n, 1, size, size, device=images.device)
    for i, kind in enumerate(kinds):
        rows = (which == i).nonzero().flatten().tolist()
        if not rows:
            continue
        sel = images[rows]
        if kind == "holes":
            mask = masks_with_fraction(len(rows), size, _rand(gen, len(rows), lo=0.3, hi=0.9), gen).to(images.device)
            visible[rows] = mask
            inputs[rows] = sel * mask
        elif kind == "pieces":
            inputs[rows] = targets[rows] = pasted_pieces(sel, others[rows], gen)
        elif kind == "strokes":
            inputs[rows] = targets[rows] = painted_strokes(sel, gen)
        else:
            raise ValueError(f"unknown collage kind {kind!r}; known: {', '.join(KINDS)}")
    return CollageBatch(inputs, targets, visible, [kinds[i] for i in which.tolist()])
