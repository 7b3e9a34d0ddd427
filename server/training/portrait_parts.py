"""The part painters of the procedural portraits in drawing order (`_PART_FNS`), and the two that
belong to no group: the background and the neck.

Each `_draw_*` function paints one part of a `PortraitParams` on a `_Canvas` (colours, or part ids
in label mode), from the background and the hair behind the head up to glasses and hat; the hair's
are in portrait_hair.py, the face's in portrait_face.py, what the portrait wears in portrait_wear.py.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from server.training.portrait_canvas import (
    CX,
    _Canvas,
    _skin_shade,
)
from server.training.portrait_face import (
    _draw_beard,
    _draw_brows,
    _draw_ears,
    _draw_eyes,
    _draw_face,
    _draw_moustache,
    _draw_mouth,
    _draw_nose,
)
from server.training.portrait_hair import _draw_hair_back, _draw_hair_front
from server.training.portrait_params import PortraitParams
from server.training.portrait_wear import _draw_clothes, _draw_earrings, _draw_glasses, _draw_hat


def _draw_background(c: _Canvas, p: PortraitParams) -> None:
    """Flat colour or a linear gradient, computed at 32 px and upscaled bilinearly (exact for a
    linear ramp, and much cheaper than evaluating it at full resolution)."""
    c.part = "background"
    if p.background == "flat":
        c.fill_image(Image.new("RGB", (c.px, c.px), p.bg_color))
        return
    g = np.linspace(0, 1, 32, dtype=np.float32)
    if p.background == "vertical":
        t = np.broadcast_to(g[:, None], (32, 32))
    else:
        t = (g[:, None] + (g[::-1] if p.bg_flip else g)[None, :]) / 2
    c1, c2 = np.array(p.bg_color, np.float32), np.array(p.bg_color2, np.float32)
    small = Image.fromarray((c1 + (c2 - c1) * t[..., None]).round().astype(np.uint8))
    c.fill_image(small.resize((c.px, c.px), Image.BILINEAR))


def _draw_neck(c: _Canvas, p: PortraitParams) -> None:
    c.part = "neck"
    w = p.neck_width
    top = p.chin_y - 0.12
    c.poly([(CX - w, top), (CX + w, top), (CX + w + 0.015, 0.98), (CX - w - 0.015, 0.98)], _skin_shade(p))
    c.ellipse(CX, p.chin_y - 0.005, w, 0.04, _skin_shade(p, 1.7))  # shadow under the chin


_PART_FNS = (_draw_background, _draw_hair_back, _draw_neck, _draw_clothes, _draw_ears, _draw_face,
             _draw_eyes, _draw_brows, _draw_nose, _draw_beard, _draw_mouth, _draw_moustache,
             _draw_earrings, _draw_hair_front, _draw_glasses, _draw_hat)
