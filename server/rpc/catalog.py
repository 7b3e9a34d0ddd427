"""The models a server serves, by name, loaded once at startup onto the worker's device.

`default` is the `--model` checkpoint (the embedded model unless given); the other shipped models
are served by their names (`server.models.loading.EMBEDDED_MODELS`); each model folder, `.pt` or
`.pkl` in `--models-dir` is served under its folder name or file stem (unless that name is taken), as valid UTF-8
(a name's bytes that are not are shown as `\\xNN`, and the model is asked for by that name). A model that fails to load
stays listed with its error, and requests naming it get FAILED_PRECONDITION; the server still starts.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from server.engine.errors import InvalidInput, ModelUnavailable, shown
from server.engine.project import w_spread
from server.models import DEFAULT_NAME, Model, load_model
from server.models.direction_files import library_for
from server.models.loading import resolve_path
from server.models.untrusted_files import printable

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pkl")


@dataclass
class ModelEntry:
    name: str
    source: str  # the path it was loaded from, or "default"
    model: Model | None  # on the device, or None
    error: str = ""  # why `model` is None

    @property
    def card(self) -> dict:
        return self.model.card if self.model is not None else {}


def find_checkpoints(folder: Path, taken=(DEFAULT_NAME,)) -> dict[str, Path]:
    """Model folders (with model.json) and .pt/.pkl files directly inside `folder`, by printable name,
    but for names already `taken`."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir() and (path / "model.json").is_file():
            name = printable(path.name)
        elif path.is_file() and path.suffix in CHECKPOINT_SUFFIXES:
            name = printable(path.stem)
        else:
            continue
        if name in taken or name in found:
            log.warning("skipping %s: the name %r is already taken", path, name)
            continue
        found[name] = path
    return found


def without_folders(message: str, source: str | Path) -> str:
    """`message` with the folder holding `source` taken out: clients see file names, not server paths."""
    for folder in {str(Path(source).resolve().parent), str(Path(source).parent)} - {"."}:
        message = message.replace(folder + os.sep, "")
    return message


class Catalog:
    def __init__(self, entries: list[ModelEntry]):
        self.entries = {entry.name: entry for entry in entries}

    @classmethod
    def load(cls, default: str | Path, models_dir: Path | None, device,
             loader: Callable[[str | Path], Model] = load_model, lpips=None,
             directions_dir: Path | None = None, named: dict[str, Path] | None = None) -> "Catalog":
        """Every model on `device` (`default`, the `named` ones, those in `models_dir`), each given
        `lpips` (the server's LPIPS network, or None) and its direction library (with the files of
        `directions_dir`)."""
        return cls([load_entry(name, source, device, loader, lpips, directions_dir)
                    for name, source in model_sources(default, models_dir, named).items()])

    def known(self, name: str, field: str = "model") -> ModelEntry:
        """The entry a request's model field names ("" = the default), loaded or not; InvalidInput if none."""
        name = name or DEFAULT_NAME
        entry = self.entries.get(name)
        if entry is None:
            raise InvalidInput(field, f"unknown model {shown(name)}; this server has {sorted(self.entries)}")
        return entry

    def get(self, name: str, field: str = "model") -> tuple[str, Model]:
        """(name, model) for a request's model field ("" = the default); InvalidInput or ModelUnavailable."""
        entry = self.known(name, field)
        if entry.model is None:
            raise ModelUnavailable(f"model {entry.name!r} cannot be used: {entry.error}")
        return entry.name, entry.model


def model_sources(default: str | Path, models_dir: Path | None,
                  named: dict[str, Path] | None = None) -> dict[str, str | Path]:
    """Where each served model comes from, by name: `default`, the `named` ones, those in `models_dir`."""
    sources: dict[str, str | Path] = {DEFAULT_NAME: default, **(named or {})}
    if models_dir is not None:
        sources.update(find_checkpoints(models_dir, taken=tuple(sources)))
    return sources


def load_entry(name: str, source: str | Path, device, loader: Callable[[str | Path], Model] = load_model,
               lpips=None, directions_dir: Path | None = None) -> ModelEntry:
    """One model on `device`, given `lpips` and its direction library; an unreadable one comes back with
    its error (logged, never raised)."""
    started = time.perf_counter()
    try:
        model = loader(source).to(device)
        w_spread(model.generator)  # a second of mapping samples now rather than in the first request
    except Exception as exc:  # any unreadable file: listed with its error, never fatal here
        log.warning("model %r from %s is unavailable: %s", name, source, exc)
        return ModelEntry(name, str(source), None, printable(without_folders(f"{type(exc).__name__}: {exc}", source)))
    model.lpips = lpips
    model.directions = library_for(model.generator, resolve_path(source), directions_dir)
    log.info("model %r from %s loaded in %.1f s", name, source, time.perf_counter() - started)
    return ModelEntry(name, str(source), model)
