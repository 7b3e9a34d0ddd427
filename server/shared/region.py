"""Which square of the canvas the model sees, and how coarsely a client may read it.

Standard library only: the engine computes the region from the selection it receives, and the GIMP
plug-in (which gets a copy of this file from install.py) computes the same region from GIMP's
selection bounds before reading anything, so it reads and sends only the pixels the server will use.

The rule (`region_square`): the selection's bounding box, grown on every side by `margin` x the box's
longer side plus `margin_px` pixels (rounded half up), made square on the longer side, centred on the
box, capped at max(width, height) (past that there is only off-canvas space), then moved inside the
canvas along each axis where the canvas is long enough, else centred on the canvas along that axis.
An odd leftover pixel goes to the right / bottom. No selection means the whole canvas: the square of
side max(width, height) centred on it.

The read step (`read_step`): a client may send each layer at 1/step of its size, step a power of two,
as long as the region still spans at least `resolution` pixels at that scale: the server averages it
down to the model's grid anyway, so nothing is lost, and each layer costs at most (2 x resolution)^2
pixels (plus one pixel per side where a layer's pixel grid is not aligned with the region).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

from .defaults import DEFAULT_MARGIN


class Bounds(NamedTuple):
    """A rectangle on the canvas, ends exclusive (the one rectangle type of server and plug-in)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def sized(cls, x: int, y: int, width: int, height: int) -> "Bounds":
        return cls(x, y, x + width, y + height)

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def square(self) -> "Bounds":
        """The square of the longer side centred on the rectangle, as the server pads a projected image
        (an odd leftover pixel goes to the right / bottom)."""
        side = max(self.width, self.height)
        x, y = self.x0 - (side - self.width) // 2, self.y0 - (side - self.height) // 2
        return Bounds(x, y, x + side, y + side)

    def intersect(self, other: "Bounds") -> Optional["Bounds"]:
        """The common part, None when they do not overlap."""
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Bounds(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


class Square(NamedTuple):
    """A square region of the canvas (it may extend past the canvas), like the contract's Square."""

    x: int
    y: int
    size: int

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.x, self.y, self.x + self.size, self.y + self.size)


def _place(lo: int, hi: int, side: int, extent: int) -> int:
    """Start of a span of `side` centred on [lo, hi), moved inside [0, extent) when it fits there,
    else centred on [0, extent)."""
    if side > extent:
        return -((side - extent) // 2)
    return min(max(lo - (side - (hi - lo)) // 2, 0), extent - side)


def region_square(selection: Optional[Bounds], width: int, height: int, margin: float = DEFAULT_MARGIN,
                  margin_px: float = 0.0) -> Square:
    """The region of interest for a selection's bounding box (None: no selection)."""
    x0, y0, x1, y1 = selection if selection is not None else (0, 0, width, height)
    longest = max(x1 - x0, y1 - y0)
    pad = int(math.floor(margin * longest + margin_px + 0.5))
    side = min(longest + 2 * pad, max(width, height))
    return Square(_place(x0, x1, side, width), _place(y0, y1, side, height), side)


def read_step(side: int, resolution: int) -> int:
    """The largest power of two `step` with side / step >= resolution (1 when the side is smaller)."""
    step = 1
    while side >= 2 * step * resolution:
        step *= 2
    return step


def scaled_read(area: Bounds, origin_x: int, origin_y: int, step: int) -> tuple[Bounds, Bounds]:
    """How to read `area` (canvas coordinates) of a drawable whose top-left pixel is at (origin_x,
    origin_y), at 1/step scale: (the rectangle in the drawable's scaled pixel grid, the canvas
    rectangle those scaled pixels stand for). The second holds `area` and is at most step - 1 pixels
    larger on each side, because scaled pixels start at multiples of `step` from the drawable's origin.
    """
    sx0 = (area.x0 - origin_x) // step
    sy0 = (area.y0 - origin_y) // step
    sx1 = -((origin_x - area.x1) // step)  # ceiling division
    sy1 = -((origin_y - area.y1) // step)
    scaled = Bounds(sx0, sy0, sx1, sy1)
    covered = Bounds(origin_x + sx0 * step, origin_y + sy0 * step, origin_x + sx1 * step, origin_y + sy1 * step)
    return scaled, covered
