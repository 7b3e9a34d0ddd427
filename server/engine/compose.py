"""Compose the region of interest of a canvas straight onto the model's grid.

Nothing here is canvas-sized: each visible layer is read only where it overlaps the region and the
canvas, so a request costs what its region costs at model resolution, whatever the canvas size.

Region (`region_of_interest`): `server.shared.region.region_square` applied to the selection's bounding box
(pixels > 0), the rule the GIMP plug-in uses too. An all-zero selection is an error (`InvalidInput` on
`selection`): the plug-in sends None when nothing is selected. A caller may give the region instead.

Grid: the region square (x, y, S) is cut into n x n cells, n = R (the model's resolution) when the
region is at least R pixels across, else n = S (one cell a canvas pixel, enlarged to R at the end).

Each layer onto the grid (`_layer_cells`): alpha = the layer's alpha x opacity x layer mask, colour
premultiplied by it; an image pixel stands for a (canvas_width / w) x (canvas_height / h) rectangle of
the canvas. A cell gets the exact area average of the premultiplied layer over the cell, where the
canvas ends the layer ends too (off-canvas counts as transparent). It runs separably, as products
with the exact overlap weights of pixels and cells, banded (each group of BAND cells meets only its
own pixels), in float32 on the model's device, in strips of rows with a cancel check between strips:
a crop of h x w pixels costs O(h w BAND) whatever its scale and the number of cells.

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

from server.shared.defaults import DEFAULT_MARGIN
from server.shared.region import Square, region_square

from .canvas import Canvas, Layer, selection_bbox, validate_canvas
from .errors import InvalidInput
from .progress import CancelToken
from .validation import check_int, check_number

STRIP_VALUES = 1 << 20  # pixels per strip of a layer's rows (float32 x 4 channels: 16 MiB)
BAND = 16  # cells summed with one weight matrix


@dataclass
class Composite:
    """The collage's region at model resolution R."""

    region: Square
    image: torch.Tensor  # [1, 3, R, R] float32 in [-1, 1], on the device; 0 where the mask is 0
    mask: torch.Tensor  # [1, 1, R, R] float32 in [0, 1]: coverage, 0 outside the canvas


def region_of_interest(canvas: Canvas, margin: float = DEFAULT_MARGIN, margin_px: float = 0.0) -> Square:
    """The square of the canvas the model sees (rule in server/shared/region.py)."""
    margin = check_number("margin", margin)
    margin_px = check_number("margin_px", margin_px)
    return region_square(selection_bbox(canvas), canvas.width, canvas.height, margin, margin_px)


def _edges(start: int, size: int, cells: int, canvas_side: int, layer_start: int, pixel: float,
           count: int) -> np.ndarray:
    """Each cell edge along one axis (cells + 1 of them) as a position in the layer's pixel grid,
    clipped to the canvas and to the layer: cell c spans positions [e[c], e[c + 1]]."""
    edges = np.clip(start + np.arange(cells + 1) * (size / cells), 0, canvas_side)
    return np.clip((edges - layer_start) / pixel, 0, count)


def _overlaps(edges: np.ndarray, lo: int, hi: int) -> torch.Tensor:
    """float64 (hi - lo, cells): how much of source pixel i (lo <= i < hi) lies in each cell."""
    i = np.arange(lo, hi, dtype=np.float64)[:, None]
    return torch.from_numpy(np.clip(np.minimum(i + 1, edges[None, 1:]) - np.maximum(i, edges[None, :-1]), 0, None))


def _bands(edges: np.ndarray, count: int) -> list[tuple[int, int, int, int]]:
    """Groups of BAND cells with the source pixels they touch: (first cell, end cell, first pixel,
    end pixel). Summing each group's pixels with a small weight matrix keeps the work O(pixels x BAND)
    whatever the number of cells."""
    bands = []
    for first in range(0, len(edges) - 1, BAND):
        end = min(first + BAND, len(edges) - 1)
        lo, hi = int(edges[first]), min(int(np.ceil(edges[end])), count)
        if hi > lo:
            bands.append((first, end, lo, hi))
    return bands


def _premultiplied(layer: Layer, rows: slice, cols: slice, device) -> torch.Tensor:
    """float32 (4, h, w): the layer's colour in [0, 1] times alpha, and alpha, over rows x cols."""
    pixels = torch.from_numpy(np.array(layer.image[rows, cols])).to(device)
    out = torch.empty((4,) + pixels.shape[:2], device=device)
    out[:pixels.shape[2]] = pixels.permute(2, 0, 1)
    alpha = out[3]
    if pixels.shape[2] == 4:
        alpha.mul_(float(layer.opacity) / 255.0)
    else:
        alpha.fill_(float(layer.opacity))
    if layer.mask is not None:
        alpha.mul_(torch.from_numpy(np.array(layer.mask[rows, cols])).to(device)).mul_(1 / 255.0)
    out[:3].mul_(alpha / 255.0)
    return out


def _layer_cells(layer: Layer, region: Square, cells: int, canvas: Canvas, device,
                 cancel: CancelToken | None) -> torch.Tensor | None:
    """float32 (4, cells, cells): the layer's premultiplied area average on each cell; None when it
    does not meet the region inside the canvas."""
    height, width = layer.image.shape[:2]
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
    x_bands = [(first, end, lo, hi, _overlaps(ex[first:end + 1], lo, hi).to(device, torch.float32))
               for first, end, lo, hi in _bands(ex, col1 - col0)]
    out = torch.zeros(4, cells, cells, device=device)
    strip = max(1, STRIP_VALUES // (col1 - col0))
    for top in range(row0, row1, strip):
        if cancel is not None:
            cancel.check()
        bottom = min(top + strip, row1)
        values = _premultiplied(layer, slice(top, bottom), slice(col0, col1), device)
        rows = torch.zeros(4, bottom - top, cells, device=device)  # each row integrated over each cell's width
        for first, end, lo, hi, weights in x_bands:
            rows[:, :, first:end] = values[:, :, lo:hi] @ weights
        local = np.clip(ey - (top - row0), 0, bottom - top)  # the cell edges within this strip
        for first, end, lo, hi in _bands(local, bottom - top):
            weights = _overlaps(local[first:end + 1], lo, hi).to(device, torch.float32)
            out[:, first:end] += weights.T @ rows[:, lo:hi]
    cell_area = (region.size / cells) ** 2
    return out * (pixel_x * pixel_y / cell_area)


def _footprint(lo: int, hi: int, side: int, resolution: int) -> np.ndarray:
    """Which of `resolution` output pixels across a square of `side` overlap [lo, hi) of it."""
    i = np.arange(resolution)
    return ((i + 1) * side > lo * resolution) & (i * side < hi * resolution)


def compose(canvas: Canvas, resolution: int, margin: float = DEFAULT_MARGIN, margin_px: float = 0.0,
            region: Square | None = None, device: torch.device | str = "cpu",
            cancel: CancelToken | None = None) -> Composite:
    """The region of interest (or `region`) at model resolution: image [1, 3, R, R] and coverage [1, 1, R, R]."""
    resolution = check_int("resolution", resolution, 1, 16384)
    validate_canvas(canvas)
    if region is None:
        region = region_of_interest(canvas, margin, margin_px)
    elif canvas.bounds.intersect(region.bounds) is None:
        raise InvalidInput("region", f"{region} does not meet the {canvas.width}x{canvas.height} canvas")
    cells = min(resolution, region.size)
    planes = torch.zeros(4, cells, cells, device=device)
    for layer in canvas.layers:
        if not layer.visible:
            continue
        top = _layer_cells(layer, region, cells, canvas, device, cancel)
        if top is not None:
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
