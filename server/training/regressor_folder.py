"""The model folder `train_regressor` writes: the checkpoint's generator and discriminator, the trained
regressor, and a card that keeps the checkpoint's description, source and training record and adds the
regressor's (`training.regressor`).

Files are written under `DIR/training/export/` and then moved into `DIR` (weights, then card), so a
server never reads half a folder and an interrupted write leaves the previous one servable. The weights
keep the checkpoint's precision when it is a model folder (float16 for the embedded model), else float32.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from server.models.model import Model
from server.models.own_format import CARD_FILE, WEIGHTS_FILE, save_model

NOTE = "regressor trained by `python -m server.training.train_regressor` (figures: training.regressor)"


def export_dir(out: Path) -> Path:
    return out / "training" / "export"


def write_model_folder(out: Path, model: Model, regressor: torch.nn.Module, record: dict, name: str) -> dict:
    """Write `out` (see the module docstring); return its card."""
    src = model.card
    dtype = torch.float16 if src.get("weights", {}).get("dtype") == "float16" else torch.float32
    notes = list(src.get("notes", []))
    if NOTE not in notes:
        notes.append(NOTE)
    training = {**src.get("training", {}), "regressor": record}
    tmp = export_dir(out)
    card = save_model(tmp, model.generator, model.discriminator, regressor, name=name,
                      description=src.get("description", ""), source=src.get("source"), notes=notes,
                      extra={"training": training}, dtype=dtype)
    for file in (WEIGHTS_FILE, CARD_FILE):
        os.replace(tmp / file, out / file)
    return card


def update_record(out: Path, **fields) -> dict:
    """Add `fields` to the card's `training.regressor` (the weights stay as they are); return the card."""
    card = json.loads((out / CARD_FILE).read_text())
    card["training"]["regressor"].update(fields)
    tmp = export_dir(out) / CARD_FILE
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, out / CARD_FILE)
    return card
