"""Paste a generated image back onto the canvas, inside the selection only.

For API clients that want a ready layer (the CLI); the GIMP plug-in places `generated` itself. Cost
and memory follow the layer's box (the selection's bounding box), never the canvas or the region: the
box is produced in strips of rows, with a cancel check between strips.

Outside the selection the returned layer is fully transparent: alpha exactly 0 and RGB 0, so stacking
it on top of the image in GIMP leaves the composite there bit-for-bit unchanged. (Any pixel whose alpha
rounds to 0 also gets RGB 0.)

Inside, alpha = selection x feather ramp, rounded half up. The ramp is clip(d / feather, 0, 1), where d
is the distance from the pixel to the selection's edge: the Euclidean distance from its centre to the
nearest unselected pixel centre, minus 0.5 (exact for feathers below FINE_REACH; wider ones measure it on
a coarser grid, see `coarse_edge_distance`). So a ring of about `feather` pixels fades in from the edge;
feather = 0 gives a hard edge, alpha = selection. The canvas border is not an edge: pixels past it count
as selected. With no selection the layer covers the region's part of the canvas at alpha 255.

The generated (3, R, R) image in [-1, 1] is resized to the region's side with Pillow's bicubic filter on
float planes (Pillow widens the kernel when shrinking, which antialiases); only the box is computed
(Pillow's `box` argument gives exactly the box's part of the whole resize), and turned into bytes as
floor((v + 1) x 127.5 + 0.5) clipped to 0..255.

Layer extent: the selection's bounding box (pixels > 0) intersected with the region and the canvas;
without a selection, the region intersected with the canvas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import distance_transform_edt

from server.shared.defaults import DEFAULT_FEATHER
from server.shared.region import Bounds, Square

from .canvas import Canvas, selection_bbox
from .errors import InvalidInput
from .progress import CancelToken
from .validation import check_number

STRIP_PIXELS = 1 << 20  # layer pixels per strip
FINE_REACH = 128  # feathers up to this wide get exact edge distances (see coarse_edge_distance)


@dataclass
class PastedLayer:
    """A new straight-alpha layer to stack on top of the canvas at (x, y)."""

    pixels: np.ndarray  # uint8 (h, w, 4)
    x: int
    y: int


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and round half up to uint8."""
    return np.floor(np.clip(values, 0, 255) + 0.5).astype(np.uint8)


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


def layer_box(canvas: Canvas, region: Square) -> Bounds:
    """Where the pasted layer lies on the canvas (see the module docstring)."""
    box = canvas.bounds.intersect(region.bounds)
    selected = selection_bbox(canvas)
    if box is not None and selected is not None:
        box = box.intersect(selected)
    if box is None:
        raise InvalidInput("region", "the region of interest does not meet the selection inside the canvas")
    return box


def edge_distance(inside: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance from each pixel centre to the nearest centre where `inside` is False, capped at
    `limit` (scipy's exact transform, linear in the pixels). Pixels past the array's border do not
    count as outside."""
    if inside.all():
        return np.full(inside.shape, float(limit))
    return np.minimum(distance_transform_edt(inside), limit)


def coarse_edge_distance(inside: np.ndarray, limit: int) -> np.ndarray:
    """`edge_distance`, exact up to a limit of FINE_REACH; beyond, measured on a grid k = ceil(limit /
    FINE_REACH) times coarser (a cell is inside when all its pixels are) and interpolated back. That is
    within about k pixels (k / limit < 1/64 of the ramp: at most 3 alpha levels in 255, measured), for
    a cost that no longer grows with the feather."""
    k = math.ceil(limit / FINE_REACH)
    if k == 1:
        return edge_distance(inside, limit)
    height, width = inside.shape
    padded = np.ones((-(-height // k) * k, -(-width // k) * k), bool)  # the border is not an edge
    padded[:height, :width] = inside
    cells = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).all(axis=(1, 3))
    coarse = edge_distance(cells, math.ceil(limit / k) + 1).astype(np.float32) * k
    fine = Image.fromarray(coarse, mode="F").resize((padded.shape[1], padded.shape[0]), Image.Resampling.BILINEAR)
    return np.minimum(np.asarray(fine)[:height, :width], limit)


def _alpha(canvas: Canvas, feather: float, box: Bounds) -> np.ndarray:
    """uint8 alpha over `box`: selection x feather ramp (see the module docstring)."""
    if canvas.selection is None:
        return np.full((box.height, box.width), 255, np.uint8)
    if feather == 0:
        return canvas.selection_window(box)
    # Unselected pixels more than `reach` away cannot lower the ramp, so a window that much larger is enough.
    reach = math.ceil(feather + 0.5)
    window = canvas.bounds.intersect(Bounds(box.x0 - reach, box.y0 - reach, box.x1 + reach, box.y1 + reach))
    selection = canvas.selection_window(window)
    inner = (slice(box.y0 - window.y0, box.y1 - window.y0), slice(box.x0 - window.x0, box.x1 - window.x0))
    distance = coarse_edge_distance(selection > 0, reach)[inner]
    ramp = np.clip((distance - 0.5) / feather, 0.0, 1.0)
    return round_half_up(selection[inner] * ramp)


def _resized(planes: list[Image.Image], region: Square, box: Bounds) -> np.ndarray:
    """float32 (h, w, 3): the bicubic resize of the planes to the region's side, over `box` only."""
    scale = planes[0].width / region.size
    source = ((box.x0 - region.x) * scale, (box.y0 - region.y) * scale,
              (box.x1 - region.x) * scale, (box.y1 - region.y) * scale)
    return np.stack([np.asarray(plane.resize((box.width, box.height), Image.Resampling.BICUBIC, box=source))
                     for plane in planes], axis=-1)


def paste_back(generated, canvas: Canvas, region: Square, feather: float = DEFAULT_FEATHER,
               cancel: CancelToken | None = None) -> PastedLayer:
    """The generated image as a new layer covering the selection (rules in the module docstring)."""
    feather = check_number("feather", feather)
    image = _generated_array(generated)
    box = layer_box(canvas, region)
    planes = [Image.fromarray(np.ascontiguousarray(plane)) for plane in image]
    pixels = np.empty((box.height, box.width, 4), np.uint8)
    strip = max(1, STRIP_PIXELS // box.width)
    for top in range(box.y0, box.y1, strip):
        if cancel is not None:
            cancel.check()
        part = Bounds(box.x0, top, box.x1, min(top + strip, box.y1))
        rows = pixels[top - box.y0:part.y1 - box.y0]
        rows[..., :3] = round_half_up((_resized(planes, region, part) + 1.0) * 127.5)
        rows[..., 3] = _alpha(canvas, feather, part)
        rows[rows[..., 3] == 0] = 0
    return PastedLayer(pixels, box.x0, box.y0)
