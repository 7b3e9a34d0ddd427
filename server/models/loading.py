"""One entry point for every checkpoint kind: the project's own folder, rosinality `.pt`,
NVIDIA `.pkl`, and latent-composition regressor `.pth`. `"default"` is the embedded model.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from .discriminator import Discriminator
from .generator import Generator
from .model import Model
from .own_format import is_model_folder, read_own, sha256_of
from .latentcomp import read_latentcomp_checkpoint
from .regressor import LatentRegressor, regressor_config

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
DEFAULT_NAME = "default"


def resolve_path(path: str | Path) -> Path:
    if str(path) == DEFAULT_NAME:
        if not is_model_folder(EMBEDDED_DIR):
            raise FileNotFoundError(f"the embedded default model is missing from {EMBEDDED_DIR}; "
                                    "reinstall GAN Collage")
        return EMBEDDED_DIR
    p = Path(path).expanduser()
    if p.is_file() and p.name == "model.json":
        p = p.parent
    if not p.exists():
        raise FileNotFoundError(f"no model at {p}")
    return p


def checkpoint_kind(path: Path) -> str:
    """'own', 'torch' (zip-format torch.save: rosinality or latent-composition) or 'nvidia'."""
    if is_model_folder(path):
        return "own"
    if path.is_dir():
        raise ValueError(f"{path} is a folder without a model.json model card")
    if zipfile.is_zipfile(path):
        return "torch"
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] == b"\x80":
        return "nvidia"
    raise ValueError(f"{path.name}: not a recognised checkpoint (expected a GAN Collage model folder, "
                     "a rosinality .pt, an NVIDIA .pkl or a latent-composition .pth)")


def _foreign_card(path: Path, loaded: dict) -> dict:
    g: Generator = loaded["generator"]
    d: Discriminator | None = loaded.get("discriminator")
    return {
        "name": path.stem,
        "description": f"{loaded['source']['format']} checkpoint {path.name}",
        "resolution": g.resolution, "num_ws": g.num_ws, "z_dim": g.z_dim, "w_dim": g.w_dim,
        "c_dim": g.c_dim,
        "generator": g.config.to_json(),
        "discriminator": d.config.to_json() if d is not None else None,
        "regressor": None,
        "source": {"file": path.name, "sha256": sha256_of(path), **loaded["source"]},
        "notes": loaded.get("notes", []),
    }


def load_model(path: str | Path) -> Model:
    """The model at `path` (missing parts are None), all in eval mode."""
    p = resolve_path(path)
    kind = checkpoint_kind(p)
    if kind == "own":
        return read_own(p)
    if kind == "torch":
        from .rosinality import read_rosinality

        loaded = read_rosinality(p)
    else:
        from .nvidia import read_nvidia

        loaded = read_nvidia(p)
    return Model(loaded["generator"], loaded["discriminator"], None, _foreign_card(p, loaded))


def load_generator(path: str | Path) -> Generator:
    """The generator contract (see DESIGN.md); the model card is attached as `g.card`."""
    model = load_model(path)
    g = model.generator
    g.card = model.card
    return g


def load_discriminator(path: str | Path) -> Discriminator | None:
    return load_model(path).discriminator


def load_regressor(path: str | Path) -> LatentRegressor:
    """A module mapping `(image * mask, mask)` to W+: the project's own or a latent-composition file."""
    p = resolve_path(path)
    if is_model_folder(p):
        r = read_own(p, parts=("regressor",)).regressor
        if r is None:
            raise ValueError(f"{p}: this model has no regressor")
        return r
    r = read_latentcomp_checkpoint(p)
    r.card = {"regressor": regressor_config(r), "source": {"file": str(p), "format": "latent-composition"}}
    return r
