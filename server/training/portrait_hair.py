"""The hair painters of the procedural portraits: the hair behind the head, and in front of it the
fringe, strands, curls and bald sides, with the outline of the hair's front edge (which
portrait_face.py shades the forehead under)."""
from __future__ import annotations

import numpy as np

from server.training.portrait_canvas import (
    CX,
    FACE_CY,
    TEMPLE_Y,
    WHITE,
    _bezier,
    _Canvas,
    _face_hw,
    _hair_dark,
    _hair_fill,
    _hat_band_y,
    _head_arc,
    _mirror,
)
from server.training.portrait_params import RGB, PortraitParams, _mix


def _hair_front_outline(p: PortraitParams) -> tuple[np.ndarray, np.ndarray]:
    """Hair in front of the head as (outer contour left to right, inner contour right to left
    along the face and the hairline); together they close the polygon."""
    vol, a = p.hair_volume, p.face_width
    length = p.hair_length
    outer = _head_arc(p, vol, min(length, FACE_CY))
    inset = 0.0 if length < FACE_CY else 0.012
    if length > FACE_CY:
        ys = np.linspace(length, FACE_CY, 6)
        flare = 0.03 * (ys - FACE_CY) / (length - FACE_CY)
        left = np.stack([CX - a - vol - flare, ys], 1)
        outer = np.concatenate([left, outer, _mirror(left)])
    ys = np.linspace(length, TEMPLE_Y, 8) if length > TEMPLE_Y else np.array([TEMPLE_Y])
    side_x = CX + np.maximum(_face_hw(p, ys) - inset, p.neck_width + 0.02)
    right_side = np.stack([side_x, ys], 1)
    temple = (float(side_x[-1]), TEMPLE_Y)
    inner = np.concatenate([right_side, _hairline(p, temple), _mirror(right_side)])
    return outer, inner


def _hairline(p: PortraitParams, temple: tuple[float, float]) -> np.ndarray:
    """Hairline from the right temple across the forehead to the left temple."""
    tx, ty = temple
    hl = p.hairline_y
    left = (2 * CX - tx, ty)
    if p.hairline == "fringe":
        xs = np.linspace(tx, left[0], 13)
        u = (xs - CX) / (tx - CX)
        ys = hl + 0.025 * u ** 2 + 0.008 * (np.arange(13) % 2)
        return np.stack([xs, ys], 1)
    if p.hairline == "middle":
        half = _bezier([temple, (tx - 0.01, hl + 0.03), (CX + 0.05, hl), (CX, hl - 0.01)], 10)
        return np.concatenate([half, _mirror(half)[1:]])
    if p.hairline == "side":
        part_x = CX + 0.09 * p.hair_part
        right = _bezier([temple, (tx, hl + 0.01), (part_x + 0.04, hl - 0.01), (part_x, hl - 0.01)], 8)
        sweep = _bezier([(part_x, hl - 0.01), (CX - 0.06 * p.hair_part, hl + 0.03),
                         (left[0] + 0.03, hl + 0.07), left], 10)
        return np.concatenate([right, sweep[1:]])
    half = _bezier([temple, (tx - 0.01, hl), (CX + 0.06, hl - 0.008), (CX, hl + 0.01)], 8)  # round
    return np.concatenate([half, _mirror(half)[1:]])


def _curl_centres(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` along a polyline: where the curls of curly hair sit."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    dist = np.concatenate([[0], np.cumsum(seg)])
    at = np.arange(0, dist[-1], step)
    return np.stack([np.interp(at, dist, pts[:, 0]), np.interp(at, dist, pts[:, 1])], 1)


def _draw_curls(c: _Canvas, p: PortraitParams, pts: np.ndarray, r: float, color: RGB,
                step_scale: float = 1.2) -> None:
    """Round curls along a contour; none where a hat covers the head."""
    top = _hat_band_y(p) if p.hat != "none" else 0.0
    for x, y in _curl_centres(pts, r * step_scale):
        if y > top:
            c.ellipse(x, y, r, r, color)


def _draw_hair_back(c: _Canvas, p: PortraitParams) -> None:
    c.part = "hair"
    dark = _hair_dark(p)
    if p.hair_style == "bun":
        r = 0.06
        cy = p.skull_top - p.hair_volume - 0.035
        c.ellipse(CX, cy, r, r * 0.9, p.hair_color)
        c.ellipse(CX + 0.015 * p.light, cy - 0.02, r * 0.45, r * 0.25, _mix(p.hair_color, WHITE, 0.2))
    if not p.back_length:
        return
    grow = p.hair_volume + 0.012
    a = p.face_width + grow
    ys = np.linspace(p.back_length, FACE_CY, 6)
    flare = 0.035 * (ys - FACE_CY) / (p.back_length - FACE_CY)
    left = np.stack([CX - a - flare, ys], 1)
    bottom = _bezier([(CX + a + 0.035, p.back_length), (CX, p.back_length + 0.02),
                      (CX - a - 0.035, p.back_length)], 8)
    outline = np.concatenate([left, _head_arc(p, grow, FACE_CY), _mirror(left), bottom])
    c.poly(outline, dark)
    if p.hair_style == "curly":
        _draw_curls(c, p, outline, 0.035, dark)


def _draw_hair_front(c: _Canvas, p: PortraitParams) -> None:
    c.part = "hair"
    if p.hair_style == "bald":
        _draw_bald_sides(c, p)
        return
    outer, inner = _hair_front_outline(p)
    fill = _hair_fill(p)
    with c.clipped(fill) as (layer, mask):
        mask.poly(np.concatenate([outer, inner]), 255)
        # sheen: an arc on the lit side of the skull
        t = np.linspace(1.25, 1.45, 8) * np.pi
        t = t if p.light < 0 else 3 * np.pi - t
        rx, ry = 0.78 * (p.face_width + p.hair_volume), 0.8 * (FACE_CY - p.skull_top + p.hair_volume)
        arc = np.stack([CX + rx * np.cos(t), FACE_CY + ry * np.sin(t)], 1)
        layer.line(arc, _mix(fill, WHITE, 0.22), 0.018)
        _draw_strands(layer, p)
    if p.hair_style == "curly":
        _draw_curls(c, p, outer, 0.032, fill)
        _draw_curls(c, p, inner[inner[:, 1] < TEMPLE_Y + 0.01], 0.022, fill, 1.4)


def _draw_strands(c: _Canvas, p: PortraitParams) -> None:
    """A few combed strands (darker, or lighter on near-black hair) following the style."""
    fill = _hair_fill(p)
    col = _mix(fill, (0, 0, 0), 0.25) if sum(fill) > 180 else _mix(fill, WHITE, 0.12)
    top, hl = p.skull_top - p.hair_volume, p.hairline_y
    reach = p.face_width + p.hair_volume
    if p.hairline == "fringe":
        for dx in np.linspace(-0.7, 0.7, 6) * reach:
            strand = _bezier([(CX + dx / 2, top + 0.04), (CX + dx * 0.9, hl - 0.04), (CX + dx, hl + 0.02)], 6)
            c.line(strand, col, 0.005)
    elif p.hairline in ("side", "middle"):
        part_x = CX + (0.09 * p.hair_part if p.hairline == "side" else 0.0)
        for side in (-1, 1):
            for j in range(3):
                y0 = top + 0.05 + 0.04 * j
                c.line(_bezier([(part_x + side * 0.006, y0), (part_x + side * 0.09, y0 - 0.015),
                                (CX + side * reach * 0.95, TEMPLE_Y - 0.04 + 0.05 * j)], 8), col, 0.005)


def _draw_bald_sides(c: _Canvas, p: PortraitParams) -> None:
    """Horseshoe of hair above the ears (only when the bald head kept some hair)."""
    if not p.hair_volume:
        return
    ys = np.linspace(0.34, 0.49, 8)
    for side in (-1, 1):
        hw = _face_hw(p, ys)
        outer = np.stack([CX + side * (hw + p.hair_volume), ys], 1)
        inner = np.stack([CX + side * (hw - 0.012), ys], 1)[::-1]
        c.poly(np.concatenate([outer, inner]), p.hair_color)


