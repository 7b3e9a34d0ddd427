"""The drawing surface of the procedural portraits and the helpers that every part painter shares.

Geometry is written in normalised coordinates (0..1 across the image) and aligned like FFHQ
crops: the face is centred on x = CX and the eye line is always y = EYE_Y; only the eye spacing
moves the eyes sideways. `_Canvas` maps those coordinates to pixels and, in label mode, paints
part ids (PARTS) instead of colours; the geometry and colour helpers derive shapes and shades from
a `PortraitParams`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from server.training.portrait_params import RGB, PortraitParams, _mix, _scale

CX = 0.5  # face centre line
EYE_Y = 0.46  # eye line
FACE_CY = 0.47  # widest line of the face; the skull is above it, the jaw below
TEMPLE_Y = 0.36  # where the hairline meets the side of the face
WHITE = (255, 255, 255)

PARTS = ("background", "hair", "clothes", "neck", "face", "eyes", "brows", "nose", "mouth",
         "beard", "glasses", "hat", "earrings")
PART_IDS = {name: i for i, name in enumerate(PARTS)}


# ----------------------------------------------------------------------------------------------
# Canvas and geometry helpers


class _Canvas:
    """PIL drawing surface in normalised coordinates.

    With `labels=True` it paints the id of the current `part` instead of colours, so the same
    drawing code yields the part masks.
    """

    def __init__(self, img: Image.Image, labels: bool = False, part: str = "background"):
        self.img = img
        self.px = img.size[0]
        self.labels = labels
        self.part = part
        self._draw = ImageDraw.Draw(img)

    def _fill(self, color):
        return PART_IDS[self.part] if self.labels else color

    def _xy(self, pts) -> list[float]:
        return (np.asarray(pts, float) * self.px).ravel().tolist()

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        s = self.px
        return [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]

    def _w(self, width: float) -> int:
        return max(1, round(width * self.px))

    def poly(self, pts, color) -> None:
        self._draw.polygon(self._xy(pts), fill=self._fill(color))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, color, width: float = 0) -> None:
        if width:
            self._draw.ellipse(self._box(cx, cy, rx, ry), outline=self._fill(color), width=self._w(width))
        else:
            self._draw.ellipse(self._box(cx, cy, rx, ry), fill=self._fill(color))

    def rrect(self, cx: float, cy: float, rx: float, ry: float, radius: float, color,
              width: float = 0) -> None:
        kw = {"outline": self._fill(color), "width": self._w(width)} if width else {"fill": self._fill(color)}
        self._draw.rounded_rectangle(self._box(cx, cy, rx, ry), radius=radius * self.px, **kw)

    def line(self, pts, color, width: float) -> None:
        self._draw.line(self._xy(pts), fill=self._fill(color), width=self._w(width), joint="curve")

    def fill_image(self, img: Image.Image) -> None:
        if self.labels:
            self._draw.rectangle([0, 0, self.px, self.px], fill=self._fill(None))
        else:
            self.img.paste(img)

    @contextmanager
    def clipped(self, fill) -> Iterator[tuple["_Canvas", "_Canvas"]]:
        """Yield (layer, mask): what is drawn on the layer lands only where the mask is drawn (255)."""
        layer = _Canvas(Image.new(self.img.mode, self.img.size, self._fill(fill)), self.labels, self.part)
        mask = _Canvas(Image.new("L", self.img.size, 0))
        yield layer, mask
        self.img.paste(layer.img, (0, 0), mask.img)


def _bezier(ctrl, k: int = 12) -> np.ndarray:
    """k points on the Bezier curve with control points ctrl (de Casteljau, any degree)."""
    pts = np.broadcast_to(np.asarray(ctrl, float), (k, len(ctrl), 2))
    t = np.linspace(0.0, 1.0, k)[:, None, None]
    while pts.shape[1] > 1:
        pts = pts[:, :-1] * (1 - t) + pts[:, 1:] * t
    return pts[:, 0]


def _mirror(pts: np.ndarray) -> np.ndarray:
    """Reflect points about the face centre line (and reverse them, keeping polygons oriented)."""
    out = np.array(pts, float)[::-1]
    out[:, 0] = 2 * CX - out[:, 0]
    return out


def _shift(pts: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return np.asarray(pts, float) + (dx, dy)


def _face_outline(p: PortraitParams, k: int = 64) -> np.ndarray:
    """Skull (upper ellipse) and jaw (lower superellipse) as one closed polygon."""
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    lower = s > 0
    n = np.where(lower, p.jaw_exp, 2.0)
    b = np.where(lower, p.chin_y - FACE_CY, FACE_CY - p.skull_top)
    x = CX + p.face_width * np.sign(c) * np.abs(c) ** (2 / n)
    y = FACE_CY + b * np.sign(s) * np.abs(s) ** (2 / n)
    return np.stack([x, y], 1)


def _face_hw(p: PortraitParams, y: np.ndarray | float) -> np.ndarray:
    """Half-width of the face outline at height y (0 outside it)."""
    y = np.asarray(y, float)
    below = y > FACE_CY
    n = np.where(below, p.jaw_exp, 2.0)
    b = np.where(below, p.chin_y - FACE_CY, FACE_CY - p.skull_top)
    r = np.clip(np.abs(y - FACE_CY) / b, 0, 1)
    return p.face_width * (1 - r ** n) ** (1 / n)


def _head_arc(p: PortraitParams, grow: float, y_end: float, k: int = 24) -> np.ndarray:
    """Skull outline grown by `grow`, from the left side at height y_end over the top to the right."""
    rx, ry = p.face_width + grow, FACE_CY - p.skull_top + grow
    a0 = math.asin(min(1.0, max(0.0, (FACE_CY - y_end) / ry)))
    t = np.linspace(np.pi + a0, 2 * np.pi - a0, k)
    return np.stack([CX + rx * np.cos(t), FACE_CY + ry * np.sin(t)], 1)


def _hat_band_y(p: PortraitParams) -> float:
    """Lowest edge of the hat on the forehead."""
    return {"beanie": 0.3, "cap": 0.29, "brimmed": 0.26}[p.hat]


def _ear_centre(p: PortraitParams, side: int) -> tuple[float, float]:
    y = 0.52
    return CX + side * (float(_face_hw(p, y)) - 0.002), y


# ----------------------------------------------------------------------------------------------
# Colours derived from the parameters


def _skin_shade(p: PortraitParams, depth: float = 1.0) -> RGB:
    return _scale(p.skin, (1 - 0.13 * depth, 1 - 0.2 * depth, 1 - 0.2 * depth))


def _hair_dark(p: PortraitParams) -> RGB:
    return _scale(p.hair_color, 0.72)


def _hair_fill(p: PortraitParams) -> RGB:
    """Buzz cuts show the scalp through, so they are blended with the skin."""
    return _mix(p.hair_color, p.skin, 0.4) if p.hair_style == "buzz" else p.hair_color
