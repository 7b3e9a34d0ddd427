"""Paste a generated image back onto the canvas, inside the selection only.

Outside the selection the returned layer is fully transparent: alpha exactly 0 and RGB 0, so stacking
it on top of the image in GIMP leaves the composite there bit-for-bit unchanged. (Any pixel whose alpha
rounds to 0 also gets RGB 0.)

Inside, alpha = selection x feather ramp, rounded half up. The ramp is clip(d / feather, 0, 1), where d
is the distance from the pixel to the selection's edge: the Euclidean distance from its centre to the
nearest unselected pixel centre, minus 0.5. So a ring of about `feather` pixels fades in from the edge;
feather = 0 gives a hard edge, alpha = selection. The canvas border is not an edge: pixels past it count
as selected. With no selection the layer covers the whole canvas at alpha 255, no feather anywhere.

The generated (3, R, R) image in [-1, 1] is resized to the region's side with Pillow's bicubic filter on
float planes (Pillow widens the kernel when shrinking, which antialiases), cropped, and turned into
bytes as floor((v + 1) x 127.5 + 0.5) clipped to 0..255.

Layer extent: the selection's bounding box (pixels > 0) intersected with the region and the canvas, the
smaller of the two allowed choices that still holds every pixel with alpha > 0; without a selection,
the region intersected with the canvas, i.e. the whole canvas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from .canvas import Canvas, Layer, selection_bbox
from .compose import Composite, composite as composite_canvas, resize_planes, round_half_up
from .errors import InvalidInput
from .validation import check_number

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 on the canvas, ends exclusive


@dataclass
class PastedLayer:
    """A new straight-alpha layer to stack on top of the canvas at (x, y)."""

    pixels: np.ndarray  # uint8 (h, w, 4)
    x: int
    y: int


def _generated_array(generated) -> np.ndarray:
    """The generated image as float32 numpy (3, R, R); a torch tensor or a batch of one is accepted."""
    if hasattr(generated, "detach"):  # a torch tensor, read without importing torch here
        generated = generated.detach().cpu().float().numpy()
    array = np.asarray(generated, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if not (array.ndim == 3 and array.shape[0] == 3 and array.shape[1] == array.shape[2] >= 1):
        raise InvalidInput("generated", f"must be (3, R, R) in [-1, 1], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInput("generated", "holds NaN or infinite values")
    return array


def _layer_box(composite: Composite) -> Box:
    """Where the pasted layer lies on the canvas (see the module docstring)."""
    width, height = composite.canvas_size
    x0, y0, x1, y1 = composite.region.intersect_canvas(width, height)
    if composite.selection is None:
        return x0, y0, x1, y1
    sx0, sy0, sx1, sy1 = selection_bbox(composite.selection)
    box = max(x0, sx0), max(y0, sy0), min(x1, sx1), min(y1, sy1)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise InvalidInput("region", "the region of interest does not meet the selection")
    return box


def edge_distance(inside: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance from each pixel centre to the nearest centre where `inside` is False, capped at `limit`.

    Exact below the cap: first the vertical distance to the nearest outside pixel of the same column
    (two running scans), then the best over the columns within `limit` on either side. Pixels past the
    array's border do not count as outside.
    """
    height, width = inside.shape
    rows = np.arange(height, dtype=np.float64)[:, None]
    above = np.maximum.accumulate(np.where(inside, -np.inf, rows), axis=0)
    below = np.minimum.accumulate(np.where(inside, np.inf, rows)[::-1], axis=0)[::-1]
    squared = np.minimum(np.minimum(rows - above, below - rows), limit) ** 2
    best = squared.copy()
    for dx in range(1, min(limit, width - 1) + 1):
        np.minimum(best[:, dx:], squared[:, :-dx] + dx * dx, out=best[:, dx:])
        np.minimum(best[:, :-dx], squared[:, dx:] + dx * dx, out=best[:, :-dx])
    return np.sqrt(best)


def _alpha(selection: Optional[np.ndarray], feather: float, box: Box) -> np.ndarray:
    """uint8 alpha over `box`: selection x feather ramp (see the module docstring)."""
    x0, y0, x1, y1 = box
    if selection is None:
        return np.full((y1 - y0, x1 - x0), 255, np.uint8)
    selected = selection[y0:y1, x0:x1]
    if feather == 0:
        return selected.copy()
    # Unselected pixels more than `reach` away cannot lower the ramp, so a window that much larger is enough.
    reach = math.ceil(feather + 0.5)
    height, width = selection.shape
    wx0, wy0 = max(x0 - reach, 0), max(y0 - reach, 0)
    wx1, wy1 = min(x1 + reach, width), min(y1 + reach, height)
    distance = edge_distance(selection[wy0:wy1, wx0:wx1] > 0, reach)[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    ramp = np.clip((distance - 0.5) / feather, 0.0, 1.0)
    return round_half_up(selected * ramp)


def paste_back(generated, composite: Composite, feather: float = 8.0) -> PastedLayer:
    """The generated image as a new layer covering the selection (rules in the module docstring)."""
    feather = check_number("feather", feather)
    image = _generated_array(generated)
    box = _layer_box(composite)
    x0, y0, x1, y1 = box
    region = composite.region
    planes = resize_planes(image, region.size, Image.Resampling.BICUBIC)
    crop = planes[:, y0 - region.y:y1 - region.y, x0 - region.x:x1 - region.x]
    pixels = np.empty((y1 - y0, x1 - x0, 4), np.uint8)
    pixels[..., :3] = round_half_up((crop.transpose(1, 2, 0) + 1.0) * 127.5)
    pixels[..., 3] = _alpha(composite.selection, feather, box)
    pixels[pixels[..., 3] == 0] = 0
    return PastedLayer(pixels, x0, y0)


def paste_into(generated, composite: Composite, feather: float = 8.0) -> np.ndarray:
    """The canvas composite with the pasted layer over it, uint8 (H, W, 4).

    Equal to `composite.canvas_rgba` bit for bit wherever the selection is 0.
    """
    pasted = paste_back(generated, composite, feather)
    width, height = composite.canvas_size
    layers = [Layer(composite.canvas_rgba), Layer(pasted.pixels, pasted.x, pasted.y)]
    return composite_canvas(Canvas(width, height, layers))
