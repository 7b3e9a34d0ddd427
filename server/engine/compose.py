"""Flatten a canvas and cut the region of interest out of it at model resolution.

Compositing (`composite`): Porter-Duff "over" of the visible layers, later layers on top, each layer's
alpha multiplied by its opacity and layer mask. It runs in float64 on premultiplied colour (colour in
0..255, alpha in [0, 1]) without intermediate rounding; at the end alpha is scaled to 0..255 and the
colour divided by alpha, and both are rounded half up, `floor(v + 0.5)`. A pixel whose alpha byte is 0
gets RGB 0 too, so uncovered pixels are exactly (0, 0, 0, 0).

Region of interest (`region_of_interest`): the bounding box of the selection (pixels > 0), grown on
every side by `margin` x the box's longer side plus `margin_px` pixels (rounded half up), made square
on the longer side, centred on the box, capped at max(width, height) (past that there is only
off-canvas space), then moved inside the canvas along each axis where the canvas is long enough, else
centred on the canvas along that axis. An odd leftover pixel goes to the right / bottom. No selection
(None) means the whole canvas: the square of side max(width, height) centred on it. An all-zero
selection is an error (`InvalidInput` on `selection`): the plug-in sends None when nothing is selected.

Resampling (`compose`): the square is premultiplied by alpha, resampled with Pillow on float32 planes,
box (area average) when shrinking and bilinear when enlarging, then un-premultiplied, so transparent
pixels never darken the colours next to them. The coverage (resampled alpha) is the mask; where it is 0
the image is 0, and output pixels whose footprint lies wholly outside the canvas get mask 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from .canvas import Canvas, Layer, Square, selection_bbox, validate_canvas
from .validation import check_int, check_number


@dataclass
class Composite:
    """The collage at model resolution R, plus what paste-back needs to return to the canvas."""

    region: Square
    image: np.ndarray  # float32 (3, R, R) in [-1, 1]; 0 where the mask is 0
    mask: np.ndarray  # float32 (1, R, R) in [0, 1]: coverage, 0 outside the canvas
    canvas_rgba: np.ndarray  # uint8 (H, W, 4): the full-resolution composite
    selection: Optional[np.ndarray]  # uint8 (H, W), or None for the whole canvas
    canvas_size: tuple[int, int]  # (width, height)


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and round half up to uint8."""
    return np.floor(np.clip(values, 0, 255) + 0.5).astype(np.uint8)


def _over(premultiplied: np.ndarray, alpha: np.ndarray, layer: Layer) -> None:
    """Put `layer` over the float64 accumulators in place, on the part of it inside the canvas."""
    height, width = alpha.shape
    layer_h, layer_w = layer.pixels.shape[:2]
    x0, y0 = max(layer.x, 0), max(layer.y, 0)
    x1, y1 = min(layer.x + layer_w, width), min(layer.y + layer_h, height)
    if x1 <= x0 or y1 <= y0:
        return
    source = (slice(y0 - layer.y, y1 - layer.y), slice(x0 - layer.x, x1 - layer.x))
    pixels = layer.pixels[source]
    a = pixels[..., 3] / 255.0 * float(layer.opacity)
    if layer.mask is not None:
        a *= layer.mask[source] / 255.0
    keep = 1.0 - a
    target = (slice(y0, y1), slice(x0, x1))
    premultiplied[target] = pixels[..., :3] * a[..., None] + premultiplied[target] * keep[..., None]
    alpha[target] = a + alpha[target] * keep


def composite(canvas: Canvas) -> np.ndarray:
    """The full-resolution uint8 (H, W, 4) straight-alpha composite of the visible layers."""
    validate_canvas(canvas)
    premultiplied = np.zeros((canvas.height, canvas.width, 3))
    alpha = np.zeros((canvas.height, canvas.width))
    for layer in canvas.layers:
        if layer.visible:
            _over(premultiplied, alpha, layer)
    rgba = np.empty((canvas.height, canvas.width, 4), np.uint8)
    rgba[..., 3] = round_half_up(alpha * 255.0)
    colour = np.divide(premultiplied, alpha[..., None], out=np.zeros_like(premultiplied),
                       where=alpha[..., None] > 0)
    rgba[..., :3] = round_half_up(colour)
    rgba[rgba[..., 3] == 0] = 0
    return rgba


def _place(lo: int, hi: int, side: int, extent: int) -> int:
    """Start of a span of `side` centred on [lo, hi), moved inside [0, extent) when it fits there,
    else centred on [0, extent)."""
    if side > extent:
        return -((side - extent) // 2)
    return min(max(lo - (side - (hi - lo)) // 2, 0), extent - side)


def region_of_interest(canvas: Canvas, margin: float = 0.125, margin_px: float = 0.0) -> Square:
    """The square of the canvas the model sees (rules in the module docstring)."""
    validate_canvas(canvas)
    margin = check_number("margin", margin)
    margin_px = check_number("margin_px", margin_px)
    width, height = canvas.width, canvas.height
    if canvas.selection is None:
        x0, y0, x1, y1 = 0, 0, width, height
    else:
        x0, y0, x1, y1 = selection_bbox(canvas.selection)
    longest = max(x1 - x0, y1 - y0)
    pad = int(np.floor(margin * longest + margin_px + 0.5))
    side = min(longest + 2 * pad, max(width, height))
    return Square(_place(x0, x1, side, width), _place(y0, y1, side, height), side)


def resize_planes(planes: np.ndarray, size: int, resample: Image.Resampling) -> np.ndarray:
    """Resize float (C, h, w) planes to float32 (C, size, size) with a Pillow filter."""
    if planes.shape[1:] == (size, size):
        return planes.astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(plane, np.float32))
                                .resize((size, size), resample)) for plane in planes])


def _premultiplied_square(rgba: np.ndarray, region: Square) -> np.ndarray:
    """float32 (4, S, S): premultiplied RGB and alpha in [0, 1] of the region, zero off the canvas."""
    height, width = rgba.shape[:2]
    x0, y0, x1, y1 = region.intersect_canvas(width, height)
    planes = np.zeros((4, region.size, region.size), np.float32)
    part = rgba[y0:y1, x0:x1].astype(np.float32).transpose(2, 0, 1) / 255.0
    inside = (slice(y0 - region.y, y1 - region.y), slice(x0 - region.x, x1 - region.x))
    planes[(slice(0, 3),) + inside] = part[:3] * part[3]
    planes[(3,) + inside] = part[3]
    return planes


def _footprint(lo: int, hi: int, side: int, resolution: int) -> np.ndarray:
    """Which of `resolution` output pixels across a square of `side` overlap [lo, hi) of it."""
    i = np.arange(resolution)
    return ((i + 1) * side > lo * resolution) & (i * side < hi * resolution)


def compose(canvas: Canvas, resolution: int, margin: float = 0.125, margin_px: float = 0.0) -> Composite:
    """Composite the canvas and resample its region of interest to (3, R, R) image + (1, R, R) coverage."""
    resolution = check_int("resolution", resolution, 1, 16384)
    rgba = composite(canvas)
    region = region_of_interest(canvas, margin, margin_px)
    resample = Image.Resampling.BOX if region.size > resolution else Image.Resampling.BILINEAR
    planes = resize_planes(_premultiplied_square(rgba, region), resolution, resample)

    x0, y0, x1, y1 = region.intersect_canvas(canvas.width, canvas.height)
    on_canvas = np.outer(_footprint(y0 - region.y, y1 - region.y, region.size, resolution),
                         _footprint(x0 - region.x, x1 - region.x, region.size, resolution))
    coverage = np.where(on_canvas, np.clip(planes[3], 0.0, 1.0), 0.0).astype(np.float32)
    colour = np.divide(planes[:3], coverage, out=np.zeros_like(planes[:3]), where=coverage > 0)
    image = np.where(coverage > 0, np.clip(colour, 0.0, 1.0) * 2.0 - 1.0, 0.0).astype(np.float32)
    return Composite(region=region, image=image, mask=coverage[None], canvas_rgba=rgba,
                     selection=canvas.selection, canvas_size=(canvas.width, canvas.height))


def to_tensors(composite: Composite):
    """(image [1, 3, R, R], mask [1, 1, R, R]) float32 torch tensors, copies of the composite's arrays."""
    import torch  # only here: everything else in this module is numpy and imports without torch

    return torch.from_numpy(composite.image.copy())[None], torch.from_numpy(composite.mask.copy())[None]
