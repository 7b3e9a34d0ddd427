"""Procedural illustrated portraits: the training set of the embedded StyleGAN2.

Each portrait is assembled from independent parts (face shape and skin, hair, eyes, brows, nose,
mouth, glasses, hat, earrings, clothes, background) whose choices are drawn from
`numpy.random.default_rng(seed)`, so an integer seed fully determines the image.

Geometry is written in normalised coordinates (0..1 across the image) and aligned like FFHQ
crops: the face is centred on x = CX and the eye line is always y = EYE_Y; only the eye spacing
moves the eyes sideways. Shapes are drawn at `size * supersample` pixels and box-downsampled,
which anti-aliases every edge.

    python -m server.training.portraits grid OUT.png [--size 64] [--n 64] [--seed-start S]
"""
from __future__ import annotations

import argparse
import colorsys
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from multiprocessing import Pool
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageDraw

TRAIN_SEEDS = range(0, 1_000_000)
HELDOUT_SEEDS = range(1_000_000, 1_010_000)  # evaluation only: never train on these

CX = 0.5  # face centre line
EYE_Y = 0.46  # eye line
FACE_CY = 0.47  # widest line of the face; the skull is above it, the jaw below
TEMPLE_Y = 0.36  # where the hairline meets the side of the face

RGB = tuple[int, int, int]
WHITE = (255, 255, 255)

PARTS = ("background", "hair", "clothes", "neck", "face", "eyes", "brows", "nose", "mouth",
         "beard", "glasses", "hat", "earrings")
PART_IDS = {name: i for i, name in enumerate(PARTS)}

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


def _hls(h: float, l: float, s: float) -> RGB:
    return tuple(int(round(255 * v)) for v in colorsys.hls_to_rgb(h % 1.0, l, s))


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


# ----------------------------------------------------------------------------------------------
# Colours derived from the parameters


def _skin_shade(p: PortraitParams, depth: float = 1.0) -> RGB:
    return _scale(p.skin, (1 - 0.13 * depth, 1 - 0.2 * depth, 1 - 0.2 * depth))


def _hair_dark(p: PortraitParams) -> RGB:
    return _scale(p.hair_color, 0.72)


def _hair_fill(p: PortraitParams) -> RGB:
    """Buzz cuts show the scalp through, so they are blended with the skin."""
    return _mix(p.hair_color, p.skin, 0.4) if p.hair_style == "buzz" else p.hair_color


# ----------------------------------------------------------------------------------------------
# Parts, in drawing order


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


# ----------------------------------------------------------------------------------------------
# Public API


def render_params(params: PortraitParams, size: int = 64, supersample: int = 4) -> np.ndarray:
    """uint8 (size, size, 3) RGB image of the portrait described by `params`."""
    c = _Canvas(Image.new("RGB", (size * supersample,) * 2))
    for draw in _PART_FNS:
        draw(c, params)
    return np.asarray(c.img.reduce(supersample))


def render_portrait(seed: int, size: int = 64, supersample: int = 4) -> tuple[np.ndarray, PortraitParams]:
    params = sample_params(seed)
    return render_params(params, size, supersample), params


def _render_seed(seed: int, size: int, supersample: int) -> np.ndarray:
    return render_params(sample_params(seed), size, supersample)


def render_batch(seeds: Iterable[int], size: int = 64, supersample: int = 4, workers: int = 1) -> np.ndarray:
    """uint8 (N, size, size, 3) portraits for `seeds`, rendered in `workers` processes."""
    seeds = [int(s) for s in seeds]
    fn = partial(_render_seed, size=size, supersample=supersample)
    if workers > 1 and len(seeds) > 1:
        with Pool(workers) as pool:
            images = pool.map(fn, seeds, chunksize=max(1, min(256, len(seeds) // (4 * workers))))
    else:
        images = [fn(s) for s in seeds]
    return np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)


def part_masks(params: PortraitParams, size: int = 64, supersample: int = 4) -> dict[str, np.ndarray]:
    """Soft uint8 (size, size) coverage of each visible part (names in PARTS), anti-aliased like
    the image: the masks are exclusive and sum to 255 per pixel, up to rounding."""
    c = _Canvas(Image.new("L", (size * supersample,) * 2), labels=True)
    for draw in _PART_FNS:
        draw(c, params)
    blocks = np.asarray(c.img).reshape(size, supersample, size, supersample).transpose(0, 2, 1, 3)
    n = len(PARTS)
    flat = np.arange(size * size)[:, None] * n + blocks.reshape(size * size, -1)
    counts = np.bincount(flat.ravel(), minlength=size * size * n).reshape(size, size, n)
    cover = np.round(counts * (255 / supersample ** 2)).astype(np.uint8)
    return {name: cover[..., i] for i, name in enumerate(PARTS)}


def is_heldout(seed: int) -> bool:
    return seed in HELDOUT_SEEDS


def make_grid(images: np.ndarray, gap: int = 2, columns: int | None = None) -> np.ndarray:
    """Tile (N, H, W, 3) images, `columns` a row (default: a near-square grid), with white gaps."""
    n, h, w, _ = images.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, img in enumerate(images):
        y, x = (gap + (h + gap) * (i // cols), gap + (w + gap) * (i % cols))
        grid[y:y + h, x:x + w] = img
    return grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    grid = sub.add_parser("grid", help="write a PNG grid of sample portraits")
    grid.add_argument("out")
    grid.add_argument("--size", type=int, default=64)
    grid.add_argument("--n", type=int, default=64)
    grid.add_argument("--seed-start", type=int, default=0)
    grid.add_argument("--supersample", type=int, default=4)
    args = parser.parse_args(argv)
    seeds = range(args.seed_start, args.seed_start + args.n)
    Image.fromarray(make_grid(render_batch(seeds, args.size, args.supersample))).save(args.out)
    print(f"wrote {args.n} portraits ({args.size}px, seeds {seeds.start}..{seeds.stop - 1}) to {args.out}")


if __name__ == "__main__":
    main()
