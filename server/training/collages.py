"""Evaluation targets built from held-out portraits: plain renders and collages of 2-3 portraits.

A collage is a real engine `Canvas`: portrait A as the bottom layer, portrait B's facial features
(eyes, brows, nose, mouth) as a layer masked to those parts, and for three-way collages portrait
C's hair (and hat) on top. Portraits are aligned, so the pieces land where such parts belong, but
colours, shapes and edges do not match: that is what a projection must harmonise.
"""
from __future__ import annotations

import numpy as np

from server.engine.canvas import Canvas, Layer
from server.training.portraits import HELDOUT_SEEDS, part_masks, render_portrait

FEATURES = ("eyes", "brows", "nose", "mouth")
HAIR = ("hair", "hat")


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def _masked_layer(seed: int, size: int, parts: tuple[str, ...], name: str) -> Layer:
    rgb, params = render_portrait(seed, size)
    masks = part_masks(params, size)
    cover = np.clip(sum(masks[p].astype(np.int32) for p in parts), 0, 255).astype(np.uint8)
    return Layer(_rgba(rgb), mask=cover, name=name)


def collage_canvas(seeds: tuple[int, ...], size: int) -> Canvas:
    """2 seeds: A + B's facial features; 3 seeds: also C's hair and hat on top."""
    base, _ = render_portrait(seeds[0], size)
    layers = [Layer(_rgba(base), name=f"portrait {seeds[0]}"),
              _masked_layer(seeds[1], size, FEATURES, f"features of {seeds[1]}")]
    if len(seeds) > 2:
        layers.append(_masked_layer(seeds[2], size, HAIR, f"hair of {seeds[2]}"))
    return Canvas(size, size, layers)


def heldout_seeds(count: int, offset: int = 0) -> list[int]:
    return list(HELDOUT_SEEDS[offset:offset + count])


def collage_seed_sets(count: int, offset: int = 5000) -> list[tuple[int, ...]]:
    """Alternating 2- and 3-portrait seed sets from the held-out range (disjoint from `heldout_seeds`
    with the default offsets)."""
    seeds = iter(HELDOUT_SEEDS[offset:])
    return [tuple(next(seeds) for _ in range(2 + i % 2)) for i in range(count)]
