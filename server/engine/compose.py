"""Compose the region of interest of a canvas straight onto the model's grid.

Nothing here is canvas-sized: each visible layer is read only where it overlaps the region and the
canvas, so a request costs what its region costs at model resolution, whatever the canvas size.

Region (`region_of_interest`): `server.region.region_square` applied to the selection's bounding box
(pixels > 0), the rule the GIMP plug-in uses too. An all-zero selection is an error (`InvalidInput` on
`selection`): the plug-in sends None when nothing is selected. A caller may give the region instead.

Grid: the region square (x, y, S) is cut into n x n cells, n = R (the model's resolution) when the
region is at least R pixels across, else n = S (one cell a canvas pixel, enlarged to R at the end).

Each layer onto the grid (`_layer_cells`): alpha = the layer's alpha x opacity x layer mask, colour
premultiplied by it; an image pixel stands for a (canvas_width / w) x (canvas_height / h) rectangle of
the canvas. A cell gets the exact area average of the premultiplied layer over the cell, where the
canvas ends the layer ends too (off-canvas counts as transparent). It runs separably on prefix sums
in float64, in strips of rows with a cancel check between strips, so a crop of h x w pixels costs
O(h w + h n + n^2) whatever its scale.

Composite: Porter-Duff "over" of the visible layers' cells, later layers on top, premultiplied, in
float32 on the model's device. Enlarging (S < R): the S x S composite is resized bilinearly (torch,
half-pixel centres, edges repeated at the region's border like Pillow's), and output pixels whose
footprint lies wholly outside the canvas get coverage 0. The coverage (alpha) is the mask; colour is
un-premultiplied where it is > 0 and 0 elsewhere, so transparent pixels never darken their neighbours
and uncovered canvas pixels are unknown, not black.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from server.region import region_square

from .canvas import Canvas, Layer, Square, selection_bbox, validate_canvas
from .progress import CancelToken
from .validation import check_int, check_number

STRIP_VALUES = 1 << 20  # float64 values per strip of a layer's rows (x4 channels, x2 for the prefix sums)


@dataclass
class Composite:
    """The collage's region at model resolution R."""

    region: Square
    image: torch.Tensor  # [1, 3, R, R] float32 in [-1, 1], on the device; 0 where the mask is 0
    mask: torch.Tensor  # [1, 1, R, R] float32 in [0, 1]: coverage, 0 outside the canvas


def region_of_interest(canvas: Canvas, margin: float = 0.125, margin_px: float = 0.0) -> Square:
    """The square of the canvas the model sees (rule in server/region.py)."""
    margin = check_number("margin", margin)
    margin_px = check_number("margin_px", margin_px)
    return Square(*region_square(selection_bbox(canvas), canvas.width, canvas.height, margin, margin_px))


def _edges(start: int, size: int, cells: int, canvas_side: int, layer_start: int, pixel: float,
           count: int) -> np.ndarray:
    """Each cell edge along one axis (cells + 1 of them) as a position in the layer's pixel grid,
    clipped to the canvas and to the layer: cell c spans positions [e[c], e[c + 1]]."""
    edges = np.clip(start + np.arange(cells + 1) * (size / cells), 0, canvas_side)
    return np.clip((edges - layer_start) / pixel, 0, count)


def _at(prefix: np.ndarray, values: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """The running integral at fractional `positions` along `axis`, from its prefix sums (one longer
    than `values` along that axis) and the values themselves (constant within a pixel)."""
    index = np.minimum(positions.astype(np.int64), values.shape[axis] - 1)
    fraction = (positions - index).reshape((-1,) + (1,) * (values.ndim - 1 - axis))
    return np.take(prefix, index, axis=axis) + fraction * np.take(values, index, axis=axis)


def _premultiplied(layer: Layer, rows: slice, cols: slice) -> np.ndarray:
    """float64 (h, w, 4): the layer's colour in [0, 1] times alpha, and alpha, over rows x cols."""
    pixels = layer.pixels[rows, cols]
    alpha = np.full(pixels.shape[:2], float(layer.opacity))
    if pixels.shape[2] == 4:
        alpha *= pixels[..., 3] / 255.0
    if layer.mask is not None:
        alpha *= layer.mask[rows, cols] / 255.0
    out = np.empty(pixels.shape[:2] + (4,))
    np.multiply(pixels[..., :3], (alpha / 255.0)[..., None], out=out[..., :3])
    out[..., 3] = alpha
    return out


def _layer_cells(layer: Layer, region: Square, cells: int, canvas: Canvas,
                 cancel: CancelToken | None) -> np.ndarray | None:
    """float64 (cells, cells, 4): the layer's premultiplied area average on each cell; None when it
    does not meet the region inside the canvas."""
    height, width = layer.pixels.shape[:2]
    bounds = layer.bounds
    if bounds.intersect(region.bounds) is None or bounds.intersect(canvas.bounds) is None:
        return None
    pixel_x, pixel_y = bounds.width / width, bounds.height / height
    ex = _edges(region.x, region.size, cells, canvas.width, layer.x, pixel_x, width)
    ey = _edges(region.y, region.size, cells, canvas.height, layer.y, pixel_y, height)
    col0, col1 = int(ex[0]), min(int(np.ceil(ex[-1])), width)
    row0, row1 = int(ey[0]), min(int(np.ceil(ey[-1])), height)
    if col1 <= col0 or row1 <= row0:
        return None
    ex, ey = ex - col0, ey - row0
    row_of_edge = np.minimum(ey.astype(np.int64), row1 - row0 - 1)
    integral = np.zeros((cells + 1, cells, 4))  # along y, at each cell edge, of the x-averaged rows
    carry = np.zeros((cells, 4))
    strip = max(1, STRIP_VALUES // (col1 - col0))
    for top in range(row0, row1, strip):
        if cancel is not None:
            cancel.check()
        bottom = min(top + strip, row1)
        values = _premultiplied(layer, slice(top, bottom), slice(col0, col1))
        prefix = np.zeros((values.shape[0], values.shape[1] + 1, 4))
        np.cumsum(values, axis=1, out=prefix[:, 1:])
        at_edges = _at(prefix, values, ex, axis=1)
        rows = (at_edges[:, 1:] - at_edges[:, :-1]) * pixel_x  # (strip rows, cells, 4): canvas-width integrals
        here = (row_of_edge >= top - row0) & (row_of_edge < bottom - row0)
        if here.any():
            row_prefix = np.empty((rows.shape[0] + 1, cells, 4))
            row_prefix[0] = carry
            np.cumsum(rows, axis=0, out=row_prefix[1:])
            row_prefix[1:] += carry
            integral[here] = _at(row_prefix, rows, ey[here] - (top - row0), axis=0)
            carry = row_prefix[-1]
        else:
            carry = carry + rows.sum(axis=0)
    cell_area = (region.size / cells) ** 2
    return (integral[1:] - integral[:-1]) * (pixel_y / cell_area)


def _footprint(lo: int, hi: int, side: int, resolution: int) -> np.ndarray:
    """Which of `resolution` output pixels across a square of `side` overlap [lo, hi) of it."""
    i = np.arange(resolution)
    return ((i + 1) * side > lo * resolution) & (i * side < hi * resolution)


def compose(canvas: Canvas, resolution: int, margin: float = 0.125, margin_px: float = 0.0,
            region: Square | None = None, device: torch.device | str = "cpu",
            cancel: CancelToken | None = None) -> Composite:
    """The region of interest (or `region`) at model resolution: image [1, 3, R, R] and coverage [1, 1, R, R]."""
    resolution = check_int("resolution", resolution, 1, 16384)
    validate_canvas(canvas)
    if region is None:
        region = region_of_interest(canvas, margin, margin_px)
    cells = min(resolution, region.size)
    planes = torch.zeros(4, cells, cells, device=device)
    for layer in canvas.layers:
        if not layer.visible:
            continue
        part = _layer_cells(layer, region, cells, canvas, cancel)
        if part is not None:
            top = torch.from_numpy(part.transpose(2, 0, 1)).to(device, torch.float32)
            planes = top + planes * (1.0 - top[3:])
    coverage = planes[3].clamp(0.0, 1.0)
    if cells < resolution:
        planes = F.interpolate(planes[None], size=(resolution, resolution), mode="bilinear",
                               align_corners=False)[0]
        inside = canvas.bounds.intersect(region.bounds)
        on_canvas = np.outer(_footprint(inside.y0 - region.y, inside.y1 - region.y, region.size, resolution),
                             _footprint(inside.x0 - region.x, inside.x1 - region.x, region.size, resolution))
        coverage = torch.where(torch.from_numpy(on_canvas).to(device), planes[3].clamp(0.0, 1.0), 0.0)
    known = coverage > 0
    colour = planes[:3] / torch.where(known, coverage, 1.0)
    image = torch.where(known, colour.clamp(0.0, 1.0) * 2.0 - 1.0, 0.0)
    return Composite(region=region, image=image[None].contiguous(), mask=coverage[None, None].contiguous())
