"""Edit attributes, on plain data: which directions the dialog offers, the edits an artist writes
("smile=2, glasses=-1"), the W+ rows they move, the EditLatent request and the new layer's name.

Rows: "default" moves each direction over its own rows (ListDirections' first_layer..last_layer);
"coarse", "middle" and "fine" are the first, second and last third of the model's num_ws rows (pose
and layout; features; colour and texture), "all" every row. A stylemap (StyleMapGAN) is one row: an
edit moves all of it, so only "default" and "all" apply there (the thirds are refused with a reason,
and the dialog offers only those two). The dialog offers every supervised
(named) and file direction, and the first SHOWN_COMPONENTS GANSpace and SeFa components (the ones with
the most variance; the others are reachable by name from scripts).
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable, Optional

from server.shared.calls import Result

from .errors import UserError
from .latent_parasite import STYLEMAP, Stored, kind_of
from .latents import latent_of
from .layer_data import LayerData, NewLayer, Options
from .models import model_name
from .newest_wins import Delivery, NewestWins
from .session import Session

ROWS = (("default", "Each direction's own rows"), ("coarse", "Coarse (pose, layout)"),
        ("middle", "Middle (features)"), ("fine", "Fine (colour, texture)"), ("all", "All rows"))
STYLEMAP_ROWS = (("default", "Each direction's own"), ("all", "All of the stylemap"))  # it is one row
SHOWN_COMPONENTS = 8  # of each of GANSpace (pc1..) and SeFa (sefa1..)
MAX_STRENGTH = 10.0   # sigmas; the dialog's sliders go to +-5
EDIT = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def list_directions(session: Session) -> list:
    """The session model's directions (DirectionInfo dicts) in the server's order."""
    (answer,) = session.call("ListDirections", {"model": session.model}, "Asking the server for its directions")
    return answer["directions"]


def offered(directions: list) -> list:
    """The directions the dialog shows a slider for: named ones first, then the first GANSpace and SeFa ones."""
    def first(kind: str) -> list:
        return [d for d in directions if d["kind"] == kind][:SHOWN_COMPONENTS]

    return [d for d in directions if d["kind"] not in ("ganspace", "sefa")] + first("ganspace") + first("sefa")


def parse(text: str, directions: list) -> list:
    """[(name, strength)] from "smile=2, glasses=-1" (commas or semicolons); zeros are left out."""
    known = {d["name"] for d in directions}
    edits: dict = {}
    for part in filter(str.strip, re.split(r"[,;]", text)):
        match = EDIT.match(part)
        if match is None:
            raise UserError(f"Write each attribute change as name=strength, e.g. smile=2 or pc3=-1.5 "
                            f"(not {part.strip()!r}).")
        name, strength = match.group(1), float(match.group(2))
        if name not in known:
            raise UserError(f"This model has no direction called {name!r}. It has: {', '.join(sorted(known))}.")
        if name in edits:
            raise UserError(f"{name} is given twice; give each attribute once.")
        if not (math.isfinite(strength) and abs(strength) <= MAX_STRENGTH):
            raise UserError(f"{name}={strength:g} is too far: strengths go from {-MAX_STRENGTH:g} to "
                            f"{MAX_STRENGTH:g} (standard deviations).")
        edits[name] = strength
    return [(name, strength) for name, strength in edits.items() if strength != 0]


def written(edits: list) -> str:
    """The inverse of `parse`: "smile=2, glasses=-1"."""
    return ", ".join(f"{name}={strength:g}" for name, strength in edits)


def row_range(rows: str, num_ws: int) -> Optional[tuple]:
    """[first, last) of the rows choice; None for "default" (each direction's own)."""
    if rows == "default":
        return None
    thirds = [round(num_ws * k / 3) for k in range(4)]
    first, last = {"coarse": (0, 1), "middle": (1, 2), "fine": (2, 3), "all": (0, 3)}[rows]
    return thirds[first], thirds[last]


def row_choices(latent: dict) -> tuple:
    """The rows choices (nick, label) that apply to a latent: all of ROWS, or STYLEMAP_ROWS for a stylemap."""
    return STYLEMAP_ROWS if kind_of(latent) == STYLEMAP else ROWS


def check_stylemap_rows(rows: str, model: str) -> None:
    """A stylemap model's edits move all of its latent: the thirds are refused (UserError)."""
    if rows not in dict(STYLEMAP_ROWS):
        raise UserError(f"The model {model!r} keeps its latent as a stylemap, so an edit moves all of it: choose "
                        "Rows: each direction's own or all.")


def latent_span(rows: str, latent: dict, model: str) -> Optional[tuple]:
    """`row_range` for this latent: a stylemap is one row (0, 1), and its thirds are refused (UserError)."""
    if kind_of(latent) != STYLEMAP:
        return row_range(rows, latent["num_ws"])
    check_stylemap_rows(rows, model_name(latent, model))
    return None if rows == "default" else (0, 1)


def edit_request(model: str, latent: dict, edits: list, rows: str) -> dict:
    span = latent_span(rows, latent, model)
    first, last = span if span else (None, None)
    return {"model": model, "latent": latent,
            "edits": [{"direction": name, "strength": strength, "first_layer": first, "last_layer": last}
                      for name, strength in edits]}


def apply(session: Session, stored: Stored, edits: list, rows: str) -> dict:
    """EditLatent's answer (image, latent) for these edits of `stored`."""
    (answer,) = session.call("EditLatent", edit_request(session.model, stored.latent, edits, rows),
                             "Editing attributes")
    return answer


def previews(session: Session, stored: Stored, first: str, deliver: Callable[[Delivery], None]) -> NewestWins:
    """The dialog's preview: EditLatent for the newest (edits, rows) submitted, on the action's own
    connection (borrowed). A call in progress finishes (they are short, and the first is worth showing);
    newer values wait for it. No edits: one of strength 0 along `first`, the unedited image bit for bit."""
    quiet = dataclasses.replace(session, report=lambda text, fraction: None)

    def perform(connection, key: tuple, emit) -> None:
        edits, rows = key
        emit(Result(apply(quiet, stored, list(edits) or [(first, 0.0)], rows)))

    return NewestWins(perform, deliver, connection=session.connection, interrupt=False, name="gan-collage-preview")


def result_layer(layer: LayerData, stored: Stored, edits: list, rows: str, answer: dict) -> NewLayer:
    """The edited image over the latent's square, cropped to the source layer, with its layer mask."""
    changes = ", ".join(f"{name} {strength:+g}" for name, strength in edits)
    where = "" if rows == "default" else f"; {rows} rows"
    name = f"Edited {layer.name} ({changes}{where}, {model_name(answer.get('latent'), stored.latent['model'])})"
    return NewLayer(name, answer["image"], stored.square, layer.box, mask=layer.mask, latent=answer.get("latent"))


def edit(session: Session, layer: LayerData, options: Options, text: str, rows: str) -> list:
    """The non-interactive Edit attributes: the edits written as "name=strength, ..."."""
    if session.stylemap():  # before any projection or call
        check_stylemap_rows(rows, session.model_info()["name"])
    stored = latent_of(session, layer, options)
    edits = parse(text, list_directions(session))
    if not edits:
        raise UserError("No attribute change was asked for: give at least one name=strength that is not 0, "
                        "e.g. smile=2.")
    return [result_layer(layer, stored, edits, rows, apply(session, stored, edits, rows))]
