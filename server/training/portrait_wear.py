"""The painters of what a procedural portrait wears: clothes, earrings, glasses and hat."""
from __future__ import annotations

import numpy as np

from server.training.portrait_canvas import (
    CX,
    EYE_Y,
    WHITE,
    _bezier,
    _Canvas,
    _ear_centre,
    _face_hw,
    _hat_band_y,
    _head_arc,
    _mirror,
    _shift,
)
from server.training.portrait_params import EYE_ASPECT, PortraitParams, _mix, _scale


def _shoulders(p: PortraitParams, neckline: np.ndarray) -> np.ndarray:
    """Torso polygon: the left shoulder, the neckline (left to right), the right shoulder."""
    y0 = neckline[0, 1]
    left = _bezier([(CX - p.shoulder_width - 0.08, 1.05), (CX - p.shoulder_width - 0.02, y0 + 0.04),
                    (CX - p.neck_width - 0.1, y0 - 0.005), neckline[0]], 10)
    return np.concatenate([left, neckline[1:-1], _mirror(left)])


def _draw_clothes(c: _Canvas, p: PortraitParams) -> None:
    c.part = "clothes"
    col, dark = p.clothing_color, _scale(p.clothing_color, 0.78)
    w, y0 = p.neck_width + 0.025, 0.875
    if p.clothing == "vneck":
        neckline = np.array([(CX - w, y0), (CX, y0 + 0.09), (CX + w, y0)])
    elif p.clothing == "collar":
        neckline = np.array([(CX - w, y0), (CX, y0 + 0.06), (CX + w, y0)])
    elif p.clothing == "turtleneck":
        neckline = np.array([(CX - w, y0), (CX + w, y0)])
    else:
        neckline = _bezier([(CX - w, y0), (CX, y0 + 0.06), (CX + w, y0)], 10)
    torso = _shoulders(p, neckline)
    with c.clipped(dark) as (layer, mask):  # the shoulder away from the light falls into shade
        mask.poly(torso, 255)
        layer.poly(_shift(torso, 0.03 * p.light, -0.02), col)
    c.line(neckline, dark, 0.014)
    if p.clothing == "collar":
        light = _mix(col, WHITE, 0.55)
        flap = np.array([(CX - w - 0.01, y0 - 0.012), (CX - 0.004, y0 + 0.065), (CX - w - 0.05, y0 + 0.05)])
        c.poly(flap, light)
        c.poly(_mirror(flap), light)
    elif p.clothing == "turtleneck":
        c.rrect(CX, (p.chin_y + 0.03 + y0 + 0.02) / 2, p.neck_width + 0.012,
                (y0 + 0.02 - p.chin_y - 0.03) / 2, 0.015, col)
        for dy in (0.0, 0.025):
            c.line(_bezier([(CX - p.neck_width, y0 - 0.03 - dy), (CX, y0 - 0.015 - dy),
                            (CX + p.neck_width, y0 - 0.03 - dy)], 8), dark, 0.006)


def _draw_earrings(c: _Canvas, p: PortraitParams) -> None:
    if p.earrings == "none":
        return
    c.part = "earrings"
    col = p.earring_color
    for side in (-1, 1):
        x, y = _ear_centre(p, side)
        lobe = (x + side * 0.004, y + 0.052)
        if p.earrings == "stud":
            c.ellipse(*lobe, 0.009, 0.009, col)
        elif p.earrings == "hoop":
            c.ellipse(lobe[0], lobe[1] + 0.02, 0.02, 0.022, col, width=0.006)
        else:
            c.line([lobe, (lobe[0], lobe[1] + 0.03)], col, 0.004)
            c.ellipse(lobe[0], lobe[1] + 0.038, 0.011, 0.013, col)


def _draw_glasses(c: _Canvas, p: PortraitParams) -> None:
    if p.glasses == "none":
        return
    c.part = "glasses"
    eh = p.eye_width * EYE_ASPECT[p.eye_shape]
    gx, gy = p.eye_width + 0.022, max(0.042, eh + 0.024)
    y = EYE_Y + 0.004
    col, glint = p.glasses_color, (238, 242, 248)
    for side in (-1, 1):
        x = CX + side * p.eye_spacing
        if p.glasses == "round":
            c.ellipse(x, y, gx, gy, col, width=0.011)
        else:
            c.rrect(x, y, gx, gy * 0.9, 0.014, col, width=0.011)
        glint_x = x + gx * p.light * np.array([0.6, 0.35])
        c.line([(glint_x[0], y - 0.5 * gy), (glint_x[1], y - 0.72 * gy)], glint, 0.005)
        ear = CX + side * (float(_face_hw(p, EYE_Y)) + 0.01)
        c.line([(x + side * gx, y - 0.01), (ear, y - 0.006)], col, 0.009)
    inner = p.eye_spacing - gx
    c.line(_bezier([(CX - inner, y - 0.008), (CX, y - 0.02), (CX + inner, y - 0.008)], 6), col, 0.009)


def _draw_hat(c: _Canvas, p: PortraitParams) -> None:
    if p.hat == "none":
        return
    c.part = "hat"
    col, dark = p.hat_color, _scale(p.hat_color, 0.75)
    grow = p.hair_volume + 0.015
    band = _hat_band_y(p)
    a = p.face_width + grow
    if p.hat == "beanie":
        crown = _head_arc(p, grow + 0.015, band)
        c.poly(np.concatenate([crown, [(CX + a + 0.01, band), (CX - a - 0.01, band)]]), col)
        c.rrect(CX, band - 0.03, a + 0.012, 0.032, 0.02, dark)
        for x in np.linspace(CX - a + 0.02, CX + a - 0.02, 9):
            c.line([(x, band - 0.055), (x, band - 0.008)], _scale(p.hat_color, 0.62), 0.005)
    elif p.hat == "cap":
        c.poly(_head_arc(p, grow, band), col)
        for dx in (-0.06, 0.06):
            top = p.skull_top - grow
            seam = _bezier([(CX + 0.3 * dx, top), (CX + dx, band - 0.1), (CX + 1.2 * dx, band)], 6)
            c.line(seam, dark, 0.005)
        c.ellipse(CX, p.skull_top - grow + 0.006, 0.014, 0.009, dark)
        visor = np.concatenate([_bezier([(CX - 0.9 * a, band), (CX, band - 0.03), (CX + 0.9 * a, band)], 10),
                                _bezier([(CX + 0.9 * a, band), (CX + 0.75 * a, band + 0.1),
                                         (CX - 0.75 * a, band + 0.1), (CX - 0.9 * a, band)], 10)])
        c.poly(visor, _scale(col, 0.45))  # underside
        c.poly(_shift(visor, 0, -0.025), _scale(col, 0.85))
    else:
        top = p.skull_top - grow - 0.03
        c.rrect(CX, (top + band) / 2, p.face_width * 0.95, (band - top) / 2, 0.05, col)
        c.rrect(CX, band - 0.025, p.face_width * 0.95, 0.016, 0.004, _mix(col, (30, 30, 30), 0.6))
        c.ellipse(CX, band, a + 0.15, 0.045, dark)
        c.ellipse(CX, band - 0.006, a + 0.14, 0.032, col)


