"""Direction files users bring, read as arrays only (never as code), and one model's direction library.

Readers, by suffix (the direction is named after the file, `stem` or `stem.key`):
- `.npy`: InterFaceGAN boundaries, `[1, w_dim]` or `[w_dim]` (or `[num_ws, w_dim]`: one row per layer);
  `numpy.load(allow_pickle=False)`.
- `.npz`: GANSpace exports with `lat_comp` `[K, 1, w_dim]` (plus `lat_mean`, `lat_stdev`, not needed:
  sigma is measured on this model's samples like every other kind): `stem.pc1`, ... `stem.pcK`.
- `.pt` / `.pth`: a tensor or a dict of tensors (PTI's and e4e's editing folders), with
  `torch.load(weights_only=True)` (through `torch_files`).
Only regular files are read, and zip members' sizes are checked before they inflate (`archive_bounds`);
names that are not valid UTF-8 are shown escaped.

`DirectionLibrary` gathers a model's directions on first use: GANSpace and SeFa (computed once and
cached as safetensors next to the model, or in the user's cache folder when that is not writable), the
supervised ones the model ships (`directions.safetensors` in its folder), and the files found in the
folders it was given. A file that cannot be read, or whose vectors do not fit the model, is skipped with
a warning.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch

from .archive_bounds import check_zip_sizes
from .directions import Direction, computed_directions, load_directions, save_directions, unit_direction, w_samples
from .generator import Generator
from .torch_files import load_torch_file
from .untrusted_files import open_regular, printable

log = logging.getLogger(__name__)
SUFFIXES = (".npy", ".npz", ".pt", ".pth")
SHIPPED_FILE = "directions.safetensors"
CACHE_VERSION = 1  # bump when the computed directions change


def _npz_components(f: BinaryIO) -> np.ndarray:
    """A GANSpace export's `lat_comp`, its members' sizes checked before numpy inflates one."""
    file_bytes = os.fstat(f.fileno()).st_size
    with zipfile.ZipFile(f) as archive:
        check_zip_sizes(archive, file_bytes)
    f.seek(0)
    with np.load(f, allow_pickle=False) as archive:
        if "lat_comp" not in archive:
            raise ValueError("a GANSpace .npz needs lat_comp")
        return np.asarray(archive["lat_comp"], dtype=np.float32)


def _vectors(path: Path) -> dict[str, torch.Tensor]:
    """name -> raw vector for one file (ValueError when unreadable)."""
    stem = path.stem
    try:
        if path.suffix in (".pt", ".pth"):
            loaded = load_torch_file(path, "direction file")
        else:
            with open_regular(path) as f:
                if path.suffix == ".npy":
                    return {stem: torch.from_numpy(np.array(np.load(f, allow_pickle=False), dtype=np.float32))}
                components = _npz_components(f)
            components = components.reshape(components.shape[0], -1)
            return {f"{stem}.pc{i + 1}": torch.from_numpy(c.copy()) for i, c in enumerate(components)}
    except (OSError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    if isinstance(loaded, torch.Tensor):
        return {stem: loaded.float()}
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return {f"{stem}.{key}": value.float() for key, value in loaded.items()}
    raise ValueError(f"{path.name}: expected a tensor or a dict of tensors, got {type(loaded).__name__}")


def fitted(vector: torch.Tensor, g: Generator) -> torch.Tensor:
    """`vector` as one latent row [row_dim] or all rows [rows, row_dim] of `g` (`latent_rows`: W+ rows,
    or a whole stylemap as one row, which may come shaped like the stylemap); ValueError when it does
    not fit."""
    rows, width = g.latent_rows
    vector = vector.squeeze()
    if tuple(vector.shape) == tuple(g.latent_shape):
        vector = vector.reshape(rows, width)
    if vector.ndim == 1 and vector.shape[0] == width:
        return vector
    if vector.ndim == 2 and tuple(vector.shape) == (rows, width):
        return vector if rows > 1 else vector[0]
    raise ValueError(f"shape {tuple(vector.shape)} fits neither [{width}] nor {list(g.latent_shape)}")


def read_direction_files(folders: list[Path], g: Generator, samples: Callable[[], torch.Tensor]) -> list[Direction]:
    """Every direction in the files of `folders` that fits `g`; `samples()` gives W samples for sigma."""
    found = []
    for folder in folders:
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            try:
                vectors = {printable(name): fitted(vector, g) for name, vector in _vectors(path).items()}
                found += [unit_direction(name, "file", vector, samples(), g.latent_rows[0],
                                         f"from {printable(path.name)}")
                          for name, vector in vectors.items() if torch.isfinite(vector).all()]
            except ValueError as exc:
                log.warning("skipping direction file %s: %s", path.name, exc)
    return found


def generator_fingerprint(g: Generator) -> str:
    """A short hash of the weights the computed directions depend on (mapping and style affines)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(g.state_dict().items()):
        if name.startswith("mapping.") or ".affine." in name:
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def user_cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gan-collage" / "directions"


class DirectionLibrary:
    """Every direction one model offers, by name, gathered on the first call of `directions()`.

    `cache_folder`: where the computed set is cached (the user's cache folder when None or not
    writable); `shipped`: a directions file that came with the model; `file_folders`: searched for
    user files.
    """

    def __init__(self, g: Generator, cache_folder: Path | None = None, shipped: Path | None = None,
                 file_folders: tuple[Path, ...] = ()):
        self._g = g
        self._cache_folder = cache_folder
        self._shipped = shipped
        self._file_folders = list(file_folders)
        self._lock = threading.Lock()
        self._directions: dict[str, Direction] | None = None

    def directions(self, cancel=None) -> dict[str, Direction]:
        """By name; the first call gathers them (`cancel.check()` between W sample batches)."""
        with self._lock:
            if self._directions is None:
                # W samples only when something needs them (no cache, or user files), drawn once
                samples = functools.cache(lambda: w_samples(self._g, cancel=cancel))
                self._directions = self._gather(samples)
            return self._directions

    def _cache_candidates(self) -> list[Path]:
        name = f"directions-computed-v{CACHE_VERSION}-{generator_fingerprint(self._g)}.safetensors"
        folders = ([self._cache_folder] if self._cache_folder is not None else []) + [user_cache_folder()]
        return [folder / name for folder in folders]

    def _computed(self, samples: Callable[[], torch.Tensor]) -> list[Direction]:
        candidates = self._cache_candidates()
        for path in candidates:
            if path.is_file():
                try:
                    return load_directions(path)
                except Exception as exc:  # a damaged cache is recomputed
                    log.warning("ignoring the direction cache %s: %s", path, exc)
        computed = computed_directions(self._g, samples())
        for path in candidates:
            try:
                save_directions(path, computed)
                break
            except OSError:
                continue
        return computed

    def _gather(self, samples: Callable[[], torch.Tensor]) -> dict[str, Direction]:
        found = self._computed(samples)
        if self._shipped is not None and self._shipped.is_file():
            found += load_directions(self._shipped)
        found += read_direction_files(self._file_folders, self._g, samples)
        by_name: dict[str, Direction] = {}
        for direction in found:
            if direction.name in by_name:
                log.warning("direction %r is defined twice; keeping the first", direction.name)
                continue
            by_name[direction.name] = direction
        return by_name


def library_for(g: Generator, source: Path, directions_dir: Path | None = None) -> DirectionLibrary:
    """The library of the model loaded from `source`: a model folder caches and ships its directions in
    itself and keeps user files in `directions/`; a checkpoint file caches beside itself and keeps
    user files in `<stem>-directions/` there. `directions_dir` serves every model."""
    extra = (directions_dir,) if directions_dir is not None else ()
    if source.is_dir():
        return DirectionLibrary(g, source, source / SHIPPED_FILE, (source / "directions", *extra))
    return DirectionLibrary(g, source.parent, None, (source.parent / f"{source.stem}-directions", *extra))
