"""The attributes the supervised directions (server/training/directions.py) are fitted for: the two
routes, each attribute's label from `PortraitParams` and its default W+ rows, the colour attributes
generator-route directions are conditioned on (`CONDITIONS`), and the data they are fitted on
(renders as model images, their regressed W+ latents, the labelled indices)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from server.models import Model
from server.training.portrait_params import PortraitParams

LATENT, GENERATOR = "latent", "generator"  # the two routes (server/training/directions.py's docstring)

# Default rows, from each direction applied to rows 0-3 and 4-9 (direction_rows.png): hats, hair and
# skin move only with rows 0-3 (the 4 and 8 px layers), the background with rows 4-9. The generator-
# route directions keep every row: on rows 4-9 alone mouths and beards no longer change.
ALL = None  # every row
COARSE = (0, 4)
MIDDLE_AND_FINE = (4, 10)  # the embedded model has 10 rows


def _luma(rgb) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _darkness(rgb) -> float:
    return 255 - _luma(rgb)


def _between(value: float, low: float, high: float) -> bool | None:
    """True above `high`, False below `low`, None (dropped: ambiguous) in between."""
    return True if value > high else False if value < low else None


@dataclass(frozen=True)
class Attribute:
    name: str
    label: Callable[[PortraitParams], bool | None]  # None: left out of fitting and scoring
    description: str
    rows: tuple[int, int] | None  # default W+ rows [first, last): chosen from the grids (docs/model-card.md)
    route: str = LATENT


ATTRIBUTES = (
    Attribute("smile", lambda p: {"smile": True, "closed": False}.get(p.mouth),
              "smiling vs closed mouth (open mouths left out)", ALL, GENERATOR),
    Attribute("mouth_open", lambda p: p.mouth in ("open_teeth", "open_dark"),
              "open mouth (teeth or dark) vs closed or smiling", ALL, GENERATOR),
    Attribute("glasses", lambda p: p.glasses != "none", "glasses vs none", ALL, GENERATOR),
    Attribute("hat", lambda p: p.hat != "none", "a beanie, cap or brimmed hat vs none", COARSE),
    Attribute("facial_hair", lambda p: None if p.facial_hair == "stubble" else p.facial_hair != "none",
              "beard, moustache or goatee vs none (stubble left out)", ALL, GENERATOR),
    Attribute("hair_light", lambda p: None if p.hair_volume == 0 else
              {"blonde": True, "grey": True, "white": True, "black": False, "dark_brown": False
               }.get(p.hair_color_name),
              "blonde, grey or white hair vs black or dark brown (brown, red, dyed, bald left out)", COARSE),
    Attribute("long_hair", lambda p: None if p.hair_style == "bob" else p.hair_style == "long",
              "long hair vs short, buzz, fringe, curly, bun or bald (bobs left out)", COARSE),
    Attribute("skin_dark", lambda p: _between(_darkness(p.skin), 255 - 170, 255 - 130),
              "skin luma below 130 vs above 170 (of 255)", COARSE),
    Attribute("background_light", lambda p: _between(_luma(p.bg_color) + _luma(p.bg_color2), 2 * 140, 2 * 170),
              "mean background luma above 170 vs below 140 (of 255)", MIDDLE_AND_FINE),
)
CONDITIONS = ("skin_dark", "hair_light", "background_light")  # projected out of generator-route directions


# ----------------------------------------------------------------------------------------- data


def to_model_images(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [N, R, R, 3] -> float [N, 3, R, R] in [-1, 1]."""
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def regressed_latents(model: Model, rgb: np.ndarray, batch: int = 250) -> torch.Tensor:
    """[N, num_ws, w_dim]: the regressor's W+ for each render, full mask (the 'regressor'
    projection method's one forward pass)."""
    size = model.generator.resolution
    latents = []
    for start in range(0, len(rgb), batch):
        images = to_model_images(rgb[start:start + batch])
        latents.append(model.regressor(images, torch.ones(len(images), 1, size, size)))
    return torch.cat(latents)


def labels(attribute: Attribute, params: list[PortraitParams]) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the labelled portraits, their 0/1 labels)."""
    found = [(i, attribute.label(p)) for i, p in enumerate(params)]
    kept = [(i, y) for i, y in found if y is not None]
    return np.array([i for i, _ in kept], int), np.array([float(y) for _, y in kept], np.float32)


