"""The part painters of the procedural portraits, in drawing order (`_PART_FNS`).

Each `_draw_*` function paints one part of a `PortraitParams` on a `_Canvas` (colours, or part ids
in label mode), from the background and the hair behind the head up to glasses and hat.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from server.training.portrait_canvas import (
    CX,
    EYE_Y,
    FACE_CY,
    TEMPLE_Y,
    _bezier,
    _Canvas,
    _face_hw,
    _face_outline,
    _hair_dark,
    _hair_fill,
    _head_arc,
    _mirror,
    _shift,
    _skin_shade,
)
from server.training.portrait_params import EYE_ASPECT, RGB, PortraitParams, _mix, _scale

WHITE = (255, 255, 255)


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


def _draw_neck(c: _Canvas, p: PortraitParams) -> None:
    c.part = "neck"
    w = p.neck_width
    top = p.chin_y - 0.12
    c.poly([(CX - w, top), (CX + w, top), (CX + w + 0.015, 0.98), (CX - w - 0.015, 0.98)], _skin_shade(p))
    c.ellipse(CX, p.chin_y - 0.005, w, 0.04, _skin_shade(p, 1.7))  # shadow under the chin


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


def _ear_centre(p: PortraitParams, side: int) -> tuple[float, float]:
    y = 0.52
    return CX + side * (float(_face_hw(p, y)) - 0.002), y


def _draw_ears(c: _Canvas, p: PortraitParams) -> None:
    c.part = "face"
    for side in (-1, 1):
        x, y = _ear_centre(p, side)
        c.ellipse(x, y, 0.034, 0.06, _skin_shade(p, 0.5))
        c.ellipse(x + side * 0.008, y + 0.002, 0.016, 0.036, _skin_shade(p, 1.3))


def _draw_face(c: _Canvas, p: PortraitParams) -> None:
    """Skin with a shaded rim away from the light, cheek blush and shadows of hair and hat."""
    c.part = "face"
    outline = _face_outline(p)
    centre = np.array([CX, FACE_CY])
    light_shift = np.array([0.016 * p.light, -0.012])
    with c.clipped(_skin_shade(p)) as (layer, mask):
        mask.poly(outline, 255)
        for scale, shift, col in ((0.97, 0.5, _skin_shade(p, 0.5)), (0.93, 1.0, p.skin)):
            layer.poly((outline - centre) * scale + centre + light_shift * shift, col)
        layer.ellipse(CX + 0.35 * p.face_width * p.light, p.skull_top + 0.07, 0.055, 0.028,
                      _mix(p.skin, WHITE, 0.2))  # only seen on bald heads
        blush = _scale(p.skin, (1.12, 0.82, 0.84))  # redder version of the skin, so it suits every tone
        for k, r in ((0.4, 1.0), (0.7, 0.7), (1.0, 0.45)):
            for side in (-1, 1):
                layer.ellipse(CX + side * (p.eye_spacing + 0.025), EYE_Y + 0.1, 0.045 * r, 0.028 * r,
                              _mix(p.skin, blush, p.blush * k))
        shadow = _skin_shade(p, 1.4)
        for shape in _cast_shadows(p):
            layer.poly(_shift(shape, -0.008 * p.light, 0.02), shadow)


def _cast_shadows(p: PortraitParams) -> list[np.ndarray]:
    """Polygons (hair, hat brim) that throw a shadow on the face just below themselves."""
    shapes = []
    if p.hair_style != "bald":
        shapes.append(np.concatenate(_hair_front_outline(p)))
    if p.hat != "none":
        y = _hat_band_y(p) + (0.075 if p.hat == "cap" else 0.0)
        shapes.append(np.array([(CX - 0.4, 0.0), (CX + 0.4, 0.0), (CX + 0.4, y), (CX - 0.4, y)]))
    return shapes


_LID_PTS = 12  # points per eyelid in _eye_outline


def _eye_outline(p: PortraitParams, side: int) -> np.ndarray:
    """Upper lid (inner to outer corner) then lower lid back, tilted, around the eye centre."""
    ew = p.eye_width
    eh = ew * EYE_ASPECT[p.eye_shape]
    s = np.linspace(0, 1, _LID_PTS)
    x = -ew + 2 * ew * s
    upper = -eh * np.sin(np.pi * s) ** 0.7 - 0.15 * eh * np.sin(np.pi * s) * (1 - s)
    lower = eh * 0.75 * np.sin(np.pi * s) ** 1.2
    xs = np.concatenate([x, x[::-1]])
    ys = np.concatenate([upper, lower[::-1]]) - p.eye_tilt * xs
    return np.stack([CX + side * (p.eye_spacing + xs), EYE_Y + ys], 1)


def _draw_eyes(c: _Canvas, p: PortraitParams) -> None:
    c.part = "eyes"
    ew = p.eye_width
    eh = ew * EYE_ASPECT[p.eye_shape]
    outlines = [_eye_outline(p, side) for side in (-1, 1)]
    lash = _mix(p.brow_color, (20, 12, 10), 0.6)
    with c.clipped((246, 242, 238)) as (layer, mask):
        for side, outline in zip((-1, 1), outlines):
            mask.poly(outline, 255)
            ex, ey = CX + side * p.eye_spacing, EYE_Y - 0.1 * eh
            r = 0.6 * ew
            layer.ellipse(ex, ey, r, r, p.iris_color)
            layer.ellipse(ex, ey, r * 0.75, r * 0.75, _scale(p.iris_color, 1.15), width=0.004)
            layer.ellipse(ex, ey, r * 0.45, r * 0.45, (18, 14, 14))
            layer.ellipse(ex + 0.35 * r * p.light, ey - 0.35 * r, r * 0.26, r * 0.26, WHITE)
            upper = outline[:_LID_PTS]
            layer.line(upper + (0, 0.007), (200, 188, 185), 0.01)  # lid shadow on the white
            if p.eye_shape == "hooded":  # a fold of skin covers the top of the eye
                fold = np.concatenate([upper + (0, 0.35 * eh), upper[::-1] - (0, 0.1)])
                layer.poly(fold, _skin_shade(p, 0.4))
    for outline in outlines:
        upper, lower = outline[:_LID_PTS], outline[_LID_PTS - 1:]
        c.line(upper, lash, 0.011)
        c.line(lower, _skin_shade(p, 0.9), 0.004)
        c.line(upper[2:-2] - (0, 0.45 * eh + 0.008), _skin_shade(p, 0.8), 0.005)  # lid crease


def _draw_brows(c: _Canvas, p: PortraitParams) -> None:
    c.part = "brows"
    eh = p.eye_width * EYE_ASPECT[p.eye_shape]
    y = EYE_Y - eh - p.brow_gap
    x_in, x_out = p.eye_spacing - 0.9 * p.eye_width, p.eye_spacing + 1.25 * p.eye_width
    centre = _bezier([(CX + x_in, y + p.brow_angle), (CX + (x_in + 2 * x_out) / 3, y - 0.022),
                      (CX + x_out, y + 0.006)], 9)
    half = p.brow_thickness / 2 * np.linspace(1.0, 0.45, 9)[:, None]
    brow = np.concatenate([centre - (0, 1) * half, (centre + (0, 1) * half)[::-1]])
    c.poly(brow, p.brow_color)
    c.poly(_mirror(brow), p.brow_color)


def _draw_nose(c: _Canvas, p: PortraitParams) -> None:
    c.part = "nose"
    tip = EYE_Y + p.nose_length
    w = p.nose_width
    side = -p.light  # the shaded side
    shade, dark = _skin_shade(p, 0.9), _skin_shade(p, 2.0)
    if p.nose_shape == "straight":
        c.line(_bezier([(CX + side * 0.018, EYE_Y + 0.03), (CX + side * 0.02, tip - 0.04),
                        (CX + side * 0.028, tip - 0.01)], 8), shade, 0.008)
    elif p.nose_shape == "pointed":
        c.poly([(CX + side * 0.006, EYE_Y + 0.035), (CX + side * 0.026, tip - 0.005),
                (CX, tip + 0.004)], shade)
    c.ellipse(CX, tip - 0.002, w * (1.1 if p.nose_shape == "wide" else 0.8), 0.019, shade)
    c.ellipse(CX - 0.004 * side, tip - 0.008, w * 0.6, 0.014, p.skin)
    if p.nose_shape == "wide":
        for s in (-1, 1):
            c.ellipse(CX + s * w * 0.95, tip - 0.004, 0.011, 0.012, shade)
    for s in (-1, 1):
        c.ellipse(CX + s * w * 0.42, tip + 0.006, 0.007, 0.0045, dark)
    if p.nose_shape in ("button", "pointed"):
        c.ellipse(CX - 0.006 * side, tip - 0.012, 0.006, 0.005, _mix(p.skin, WHITE, 0.35))


def _draw_mouth(c: _Canvas, p: PortraitParams) -> None:
    c.part = "mouth"
    y, w = _mouth_y(p), p.mouth_width
    lip, upper_lip = p.lip_color, _scale(p.lip_color, 0.85)
    line = _scale(p.lip_color, 0.5)
    if p.mouth in ("closed", "smile"):
        lift = 0.014 if p.mouth == "smile" else 0.0
        seam = _bezier([(CX - w, y - lift), (CX - w * 0.5, y + 0.006), (CX + w * 0.5, y + 0.006),
                        (CX + w, y - lift)], 12)
        top = _bezier([(CX + w, y - lift), (CX + w * 0.45, y - 0.02), (CX + 0.005, y - 0.02),
                       (CX, y - 0.012)], 8)
        upper = np.concatenate([seam, top, _mirror(top)[1:]])
        lower = np.concatenate([seam, _bezier([(CX + w, y - lift), (CX + w * 0.5, y + 0.034),
                                               (CX - w * 0.5, y + 0.034), (CX - w, y - lift)], 12)])
        c.poly(lower, lip)
        c.poly(upper, upper_lip)
        c.ellipse(CX + 0.012 * p.light, y + 0.016, w * 0.3, 0.005, _mix(lip, WHITE, 0.3))
        c.line(seam, line, 0.006)
        return
    open_h = 0.05 if p.mouth == "open_teeth" else 0.035
    ww = w if p.mouth == "open_teeth" else w * 0.7
    top = _bezier([(CX - ww, y - 0.004), (CX, y - 0.016), (CX + ww, y - 0.004)], 10)
    bottom = _bezier([(CX + ww, y - 0.004), (CX + ww * 0.6, y + open_h), (CX - ww * 0.6, y + open_h),
                      (CX - ww, y - 0.004)], 12)
    opening = np.concatenate([top, bottom])
    with c.clipped((72, 24, 30)) as (layer, mask):
        mask.poly(opening, 255)
        layer.ellipse(CX, y + open_h, ww * 0.6, open_h * 0.45, (205, 95, 105))  # tongue
        if p.mouth == "open_teeth":
            layer.rrect(CX, y - 0.004, ww, 0.018, 0.004, (245, 242, 232))
    c.line(top, upper_lip, 0.009)
    c.line(bottom, lip, 0.012)


def _mouth_y(p: PortraitParams) -> float:
    return EYE_Y + p.nose_length + 0.085


def _beard_color(p: PortraitParams) -> RGB:
    return p.brow_color if p.hair_color_name == "dyed" or p.hair_style == "bald" else p.hair_color


def _draw_beard(c: _Canvas, p: PortraitParams) -> None:
    """Stubble, full beard or goatee, drawn under the mouth."""
    if p.facial_hair in ("none", "moustache"):
        return
    c.part = "beard"
    y, w = _mouth_y(p), p.mouth_width
    if p.facial_hair == "goatee":
        right = _bezier([(CX, y + 0.018), (CX + w * 0.8, y + 0.01), (CX + w * 0.7, y + 0.07),
                         (CX, y + 0.08)], 8)
        c.poly(np.concatenate([right, _mirror(right)]), _beard_color(p))
        return
    outline = _face_outline(p)
    jaw = outline[(outline[:, 1] > 0.56) & (outline[:, 0] >= CX)]
    jaw = jaw[np.argsort(jaw[:, 1])]  # right ear down to the chin
    jaw = (jaw - (CX, FACE_CY)) * (1.03, 1.02) + (CX, FACE_CY)
    upper = _bezier([(CX, y - 0.03), (CX + w + 0.025, y - 0.03), (jaw[0, 0] - 0.04, y - 0.04), jaw[0]], 10)
    right = np.concatenate([upper, jaw])
    color = _beard_color(p)
    if p.facial_hair == "stubble":
        color = _mix(_skin_shade(p), color, 0.22)
    c.poly(np.concatenate([right, _mirror(right)]), color)


def _draw_moustache(c: _Canvas, p: PortraitParams) -> None:
    if p.facial_hair not in ("moustache", "beard"):
        return
    c.part = "beard"
    y, w = _mouth_y(p), p.mouth_width
    right = _bezier([(CX, y - 0.03), (CX + w * 0.8, y - 0.035), (CX + w + 0.012, y - 0.01),
                     (CX + w + 0.008, y + 0.004), (CX + w * 0.5, y - 0.01), (CX, y - 0.01)], 12)
    c.poly(np.concatenate([right, _mirror(right)]), _scale(_beard_color(p), 0.9))


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


def _hat_band_y(p: PortraitParams) -> float:
    """Lowest edge of the hat on the forehead."""
    return {"beanie": 0.3, "cap": 0.29, "brimmed": 0.26}[p.hat]


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


_PART_FNS = (_draw_background, _draw_hair_back, _draw_neck, _draw_clothes, _draw_ears, _draw_face,
             _draw_eyes, _draw_brows, _draw_nose, _draw_beard, _draw_mouth, _draw_moustache,
             _draw_earrings, _draw_hair_front, _draw_glasses, _draw_hat)
