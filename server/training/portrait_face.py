"""The face painters of the procedural portraits: ears, skin with its shadows, eyes, brows, nose,
mouth, and the facial hair around it (beard, moustache)."""
from __future__ import annotations

import numpy as np

from server.training.portrait_canvas import (
    CX,
    EYE_Y,
    FACE_CY,
    WHITE,
    _bezier,
    _Canvas,
    _ear_centre,
    _face_outline,
    _hat_band_y,
    _mirror,
    _shift,
    _skin_shade,
)
from server.training.portrait_hair import _hair_front_outline
from server.training.portrait_params import EYE_ASPECT, RGB, PortraitParams, _mix, _scale


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


