"""Attribute edits: a latent moved along named directions (see server/models/directions.py) or
along the difference of an example pair, several edits at once, then rendered.

The latent is seen as rows (latents.py): W+ rows, or a stylemap as one row, so a stylemap model's
directions and pairs move the whole stylemap and its rows are just [0, 1).

A named edit adds strength x sigma x the direction's unit vector to the rows [first_layer,
last_layer) (the direction's default rows unless given); a pair edit adds strength x (target -
source) to its rows (all by default). The moves of all edits add up. Strength 0 leaves the latent,
and so the image, bit for bit as it was.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import InvalidInput, ModelUnavailable, shown
from .latents import as_rows
from .progress import CancelToken
from .validation import check_int

MAX_EDITS = 64
MAX_STRENGTH = 100.0  # in sigmas; beyond this no model's images mean anything


@dataclass
class AttributeEdit:
    strength: float
    direction: str = ""  # a name the model's library knows; "" with `pair`
    pair: tuple[Tensor, Tensor] | None = None  # (source, target) [1, *latent_shape]
    first_layer: int | None = None  # None: the direction's default rows (a pair: all)
    last_layer: int | None = None


def directions_of(model, cancel: CancelToken | None = None) -> dict:
    """The model's directions by name (computed on the first call); ModelUnavailable without a library."""
    if model.directions is None:
        raise ModelUnavailable("this model has no direction library")
    return model.directions.directions(cancel)


def _move(edit: AttributeEdit, where: str, known: dict, num_ws: int, w_dim: int) -> tuple[Tensor, int, int]:
    """(the [num_ws or 1, w_dim] move before row selection, first row, last row) of one edit; num_ws
    x w_dim are the latent's rows."""
    strength = edit.strength
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and abs(strength) <= MAX_STRENGTH):
        raise InvalidInput(f"{where}.strength", f"must be a finite number in [-{MAX_STRENGTH:g}, "
                                                f"{MAX_STRENGTH:g}], got {shown(strength)}")
    if edit.direction:
        direction = known.get(edit.direction)
        if direction is None:
            raise InvalidInput(f"{where}.direction", f"unknown direction {shown(edit.direction)}; "
                                                     f"ListDirections lists this model's {len(known)}")
        move = direction.vector.view(-1, w_dim) * (strength * direction.sigma)
        first, last = direction.first_layer, direction.last_layer
    elif edit.pair is not None:
        source, target = edit.pair
        move = (target - source).view(num_ws, w_dim).float() * strength
        first, last = 0, num_ws
    else:
        raise InvalidInput(f"{where}.direction", "is empty: name a direction, or give source and target latents")
    first = first if edit.first_layer is None else check_int(f"{where}.first_layer", edit.first_layer, 0, num_ws - 1)
    last = last if edit.last_layer is None else check_int(f"{where}.last_layer", edit.last_layer, 1, num_ws)
    if not first < last:
        raise InvalidInput(f"{where}.last_layer", f"must be greater than first_layer ({first}), got {last}")
    return move, first, last


def edited_latent(g, latent: Tensor, edits: list[AttributeEdit], known: dict) -> Tensor:
    """`latent` [1, *g.latent_shape] with every edit's move added on its rows."""
    if not 1 <= len(edits) <= MAX_EDITS:
        raise InvalidInput("edits", f"must hold 1 to {MAX_EDITS} edits, got {len(edits)}")
    num_ws, w_dim = g.latent_rows
    total = torch.zeros(num_ws, w_dim)
    for index, edit in enumerate(edits):
        move, first, last = _move(edit, f"edits[{index}]", known, num_ws, w_dim)
        total[first:last] += move[first:last] if move.shape[0] == num_ws else move
    return (as_rows(g, latent) + total.to(latent.device, latent.dtype)[None]).view_as(latent)
