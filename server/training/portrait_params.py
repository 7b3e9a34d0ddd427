"""Parameter sampling for the procedural portraits: every part choice of one portrait, from its seed.

`sample_params(seed)` draws the face shape and skin, hair, eyes, brows, nose, mouth, glasses, hat,
earrings, clothes and background from `numpy.random.default_rng(seed)`, so an integer seed fully
determines a `PortraitParams`, and through `server.training.portraits` the image. Also here: the
part tables and their weights, and the RGB colour helpers shared with the drawing modules.
"""
from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

RGB = tuple[int, int, int]

# name: (weight, half-width range, chin y range, jaw superellipse exponent range)
FACE_SHAPES = {
    "oval": (0.3, (0.22, 0.235), (0.81, 0.83), (2.0, 2.3)),
    "round": (0.2, (0.24, 0.255), (0.79, 0.81), (1.9, 2.1)),
    "long": (0.15, (0.205, 0.22), (0.84, 0.86), (2.1, 2.4)),
    "square": (0.2, (0.23, 0.245), (0.80, 0.82), (2.8, 3.4)),
    "heart": (0.15, (0.23, 0.245), (0.81, 0.83), (1.6, 1.75)),
}
SKIN_TONES = [(250, 222, 200), (240, 200, 170), (228, 180, 142), (205, 150, 110),
              (175, 120, 82), (140, 92, 62), (105, 68, 46), (78, 52, 38)]

# name: (weight, volume range, front length range, back length range or None, hairline kinds)
HAIR_STYLES = {
    "short": (0.17, (0.02, 0.035), (0.42, 0.45), None, ("side", "round")),
    "buzz": (0.07, (0.004, 0.008), (0.42, 0.44), None, ("round",)),
    "fringe": (0.12, (0.025, 0.035), (0.60, 0.64), (0.62, 0.68), ("fringe",)),
    "bob": (0.13, (0.03, 0.045), (0.70, 0.74), (0.72, 0.76), ("side", "fringe", "middle")),
    "long": (0.2, (0.025, 0.04), (0.86, 0.94), (0.95, 1.0), ("middle", "side", "fringe")),
    "curly": (0.12, (0.05, 0.075), (0.55, 0.62), (0.64, 0.72), ("round",)),
    "bun": (0.08, (0.008, 0.014), (0.42, 0.44), None, ("round", "middle")),
    "bald": (0.11, (0.0, 0.0), (0.0, 0.0), None, ("none",)),
}
HAIR_COLORS = {  # name: (weight, colour); "dyed" picks from DYED_COLORS
    "black": (0.24, (28, 24, 24)),
    "dark_brown": (0.2, (58, 40, 30)),
    "brown": (0.15, (108, 74, 46)),
    "blonde": (0.13, (222, 186, 118)),
    "red": (0.08, (172, 72, 36)),
    "grey": (0.11, (170, 168, 165)),
    "dyed": (0.05, None),
    "white": (0.04, (228, 226, 220)),
}
DYED_COLORS = [(220, 90, 150), (70, 110, 210), (130, 80, 190), (50, 160, 140), (235, 130, 60)]
IRIS_COLORS = {"dark_brown": (62, 40, 28), "brown": (112, 72, 40), "hazel": (128, 108, 58),
               "green": (78, 122, 72), "blue": (72, 122, 178), "grey": (112, 128, 146)}
EYE_ASPECT = {"almond": 0.55, "round": 0.72, "narrow": 0.42, "hooded": 0.58}
NOSE_SHAPES = ("button", "straight", "wide", "pointed")
MOUTHS = {"closed": 0.35, "smile": 0.3, "open_teeth": 0.2, "open_dark": 0.15}
GLASSES_COLORS = [(25, 25, 28), (100, 60, 35), (200, 165, 80), (180, 182, 190), (170, 40, 45),
                  (40, 55, 115)]
EARRING_COLORS = [(222, 182, 72), (205, 205, 215), (240, 235, 225), (180, 40, 60)]
LIPSTICKS = [(180, 30, 45), (200, 80, 110), (120, 40, 70), (160, 70, 60)]
CLOTHING = ("crew", "vneck", "collar", "turtleneck")
FACIAL_HAIR = {"none": 0.78, "stubble": 0.06, "moustache": 0.04, "beard": 0.08, "goatee": 0.04}


@dataclass(frozen=True)
class PortraitParams:
    """Every sampled part choice; lengths are fractions of the image side, colours are RGB."""

    seed: int
    face_shape: str
    face_width: float  # half-width at FACE_CY
    skull_top: float
    chin_y: float
    jaw_exp: float  # 2 = elliptic jaw, larger = squarer, smaller = pointier
    skin: RGB
    blush: float
    light: int  # -1: light from the left of the image, +1: from the right
    hair_style: str
    hair_color_name: str
    hair_color: RGB
    hair_volume: float
    hair_length: float  # lowest y of the hair in front of the face
    back_length: float  # lowest y of the hair behind the head (0: none)
    hairline: str
    hairline_y: float
    hair_part: float  # -1..1, side of the parting
    eye_shape: str
    eye_spacing: float  # distance of each eye centre from CX
    eye_width: float  # half-width
    eye_tilt: float  # > 0 raises the outer corners
    iris_color: RGB
    brow_color: RGB
    brow_thickness: float
    brow_angle: float  # > 0 lowers the inner ends (stern), < 0 raises them (worried)
    brow_gap: float
    nose_shape: str
    nose_length: float
    nose_width: float
    mouth: str
    mouth_width: float
    lip_color: RGB
    facial_hair: str
    glasses: str
    glasses_color: RGB
    hat: str
    hat_color: RGB
    earrings: str
    earring_color: RGB
    neck_width: float
    shoulder_width: float
    clothing: str
    clothing_color: RGB
    background: str
    bg_color: RGB
    bg_color2: RGB
    bg_flip: bool  # mirrors the diagonal gradient

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# Sampling


def _pick(rng: np.random.Generator, weights: dict) -> str:
    names = list(weights)
    w = np.array([v[0] if isinstance(v, tuple) else v for v in weights.values()], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _mix(c1: Iterable[float], c2: Iterable[float], t: float) -> RGB:
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c1, c2))


def _scale(c: Iterable[float], f: Iterable[float] | float) -> RGB:
    f = (f, f, f) if isinstance(f, (int, float)) else f
    return tuple(int(min(255, round(a * k))) for a, k in zip(c, f))


def _hls(hue: float, lightness: float, saturation: float) -> RGB:
    return tuple(int(round(255 * v)) for v in colorsys.hls_to_rgb(hue % 1.0, lightness, saturation))


def _skin_tone(t: float, jitter: float) -> RGB:
    """Interpolate the light-to-dark skin ramp at t in [0, 1]; jitter shifts warmth slightly."""
    x = t * (len(SKIN_TONES) - 1)
    i = min(int(x), len(SKIN_TONES) - 2)
    base = _mix(SKIN_TONES[i], SKIN_TONES[i + 1], x - i)
    return _scale(base, (1 + 0.03 * jitter, 1.0, 1 - 0.03 * jitter))


def _hair_color(rng: np.random.Generator, skin_t: float) -> tuple[str, RGB]:
    """Darker skin makes dark hair more likely; colours are jittered in brightness."""
    weights = dict(HAIR_COLORS)
    if skin_t > 0.5:
        weights["black"] = (0.55, HAIR_COLORS["black"][1])
    name = _pick(rng, weights)
    color = DYED_COLORS[int(rng.integers(len(DYED_COLORS)))] if name == "dyed" else weights[name][1]
    return name, _scale(color, _u(rng, 0.88, 1.12))


def _brow_color(hair_color_name: str, hair_color: RGB) -> RGB:
    """Brows are a darker version of natural hair; dyed hair keeps natural brown brows."""
    if hair_color_name in ("grey", "white"):
        return (150, 150, 148)
    if hair_color_name == "dyed":
        return (60, 42, 30)
    return _mix(hair_color, (30, 20, 15), 0.35)


def _iris_color(rng: np.random.Generator, skin_t: float) -> RGB:
    names = list(IRIS_COLORS)
    p = np.array([3, 3, 1.5, 1, 1.5, 1]) if skin_t < 0.4 else np.array([6, 4, 1, 0.2, 0.2, 0.2])
    return IRIS_COLORS[names[int(rng.choice(len(names), p=p / p.sum()))]]


def sample_params(seed: int) -> PortraitParams:
    """Draw every part choice of portrait `seed` from its own generator."""
    rng = np.random.default_rng(seed)
    face_shape = _pick(rng, FACE_SHAPES)
    _, width_r, chin_r, exp_r = FACE_SHAPES[face_shape]
    skin_t = float(rng.random()) ** 1.25  # a little more weight on the lighter half
    skin = _skin_tone(skin_t, _u(rng, -1, 1))

    hair_style = _pick(rng, HAIR_STYLES)
    _, vol_r, len_r, back_r, hairlines = HAIR_STYLES[hair_style]
    hair_color_name, hair_color = _hair_color(rng, skin_t)
    hairline = hairlines[int(rng.integers(len(hairlines)))]
    if hair_style == "bald":  # half of the bald heads keep a grey-ish horseshoe above the ears
        hair_volume = 0.012 if rng.random() < 0.5 else 0.0
    else:
        hair_volume = _u(rng, *vol_r)
    mouth = _pick(rng, MOUTHS)
    lip = _mix(skin, (185, 75, 85), 0.38)
    if rng.random() < 0.15:
        lip = LIPSTICKS[int(rng.integers(len(LIPSTICKS)))]
    glasses = ("round", "square")[int(rng.integers(2))] if rng.random() < 0.25 else "none"
    hat = "none"
    if hair_style != "bun" and rng.random() < 0.15:
        hat = ("beanie", "cap", "brimmed")[int(rng.integers(3))]
    earrings = ("stud", "hoop", "drop")[int(rng.integers(3))] if rng.random() < 0.3 else "none"
    if rng.random() < 0.15:
        clothing_color = _hls(0, _u(rng, 0.1, 0.92), 0.0)
    else:
        clothing_color = _hls(float(rng.random()), _u(rng, 0.25, 0.7), _u(rng, 0.2, 0.7))
    bg_h = float(rng.random())
    bg_l, bg_s = _u(rng, 0.45, 0.85), _u(rng, 0.15, 0.55)

    return PortraitParams(
        seed=int(seed),
        face_shape=face_shape,
        face_width=_u(rng, *width_r),
        skull_top=_u(rng, 0.1, 0.125),
        chin_y=_u(rng, *chin_r),
        jaw_exp=_u(rng, *exp_r),
        skin=skin,
        blush=_u(rng, 0.1, 0.4),
        light=int(rng.choice((-1, 1))),
        hair_style=hair_style,
        hair_color_name=hair_color_name,
        hair_color=hair_color,
        hair_volume=hair_volume,
        hair_length=_u(rng, *len_r),
        back_length=_u(rng, *back_r) if back_r else 0.0,
        hairline=hairline,
        hairline_y=_u(rng, 0.33, 0.36) if hairline == "fringe" else _u(rng, 0.24, 0.29),
        hair_part=_u(rng, -1, 1),
        eye_shape=list(EYE_ASPECT)[int(rng.integers(len(EYE_ASPECT)))],
        eye_spacing=_u(rng, 0.095, 0.115),
        eye_width=_u(rng, 0.047, 0.06),
        eye_tilt=_u(rng, -0.12, 0.2),
        iris_color=_scale(_iris_color(rng, skin_t), _u(rng, 0.85, 1.15)),
        brow_color=_brow_color(hair_color_name, hair_color),
        brow_thickness=_u(rng, 0.011, 0.022),
        brow_angle=_u(rng, -0.012, 0.014),
        brow_gap=_u(rng, 0.035, 0.055),
        nose_shape=NOSE_SHAPES[int(rng.integers(len(NOSE_SHAPES)))],
        nose_length=_u(rng, 0.11, 0.14),
        nose_width=_u(rng, 0.024, 0.036),
        mouth=mouth,
        mouth_width=_u(rng, 0.045, 0.07),
        lip_color=lip,
        facial_hair=_pick(rng, FACIAL_HAIR),
        glasses=glasses,
        glasses_color=GLASSES_COLORS[int(rng.integers(len(GLASSES_COLORS)))],
        hat=hat,
        hat_color=_hls(float(rng.random()), _u(rng, 0.2, 0.65), _u(rng, 0.2, 0.7)),
        earrings=earrings,
        earring_color=EARRING_COLORS[int(rng.integers(len(EARRING_COLORS)))],
        neck_width=_u(rng, 0.085, 0.105),
        shoulder_width=_u(rng, 0.36, 0.44),
        clothing=CLOTHING[int(rng.integers(len(CLOTHING)))],
        clothing_color=clothing_color,
        background=("flat", "vertical", "diagonal")[int(rng.integers(3))],
        bg_color=_hls(bg_h, bg_l, bg_s),
        bg_color2=_hls(bg_h + _u(rng, -0.12, 0.12), bg_l + _u(rng, -0.25, 0.1), bg_s),
        bg_flip=bool(rng.random() < 0.5),
    )
