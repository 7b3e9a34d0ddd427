"""One entry point for every checkpoint kind: the project's own folder, rosinality `.pt`,
StyleMapGAN `.pt`, NVIDIA `.pkl`, and latent-composition regressor `.pth`. `"default"` is the
embedded model.
"""
from __future__ import annotations

from pathlib import Path

from .archive_bounds import is_zip
from .discriminator import Discriminator
from .generator import Generator
from .latentcomp import read_latentcomp_checkpoint
from .model import Model
from .own_format import is_model_folder, latent_card, read_own, regressor_json, sha256_of
from .regressor import LatentRegressor
from .rosinality import load_checkpoint_dict, read_rosinality
from .stylemapgan import StyleMapEncoder
from .stylemapgan_checkpoint import is_stylemapgan_checkpoint, read_stylemapgan
from .untrusted_files import open_regular, printable

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"  # the default model: a StyleGAN2
EMBEDDED_STYLEMAP_DIR = Path(__file__).resolve().parent / "embedded-stylemap"
# Every model the project ships, by the name the server gives it when it is not the default.
EMBEDDED_MODELS = {"portraits-64": EMBEDDED_DIR, "portraits-stylemap-64": EMBEDDED_STYLEMAP_DIR}
DEFAULT_NAME = "default"
# torch.save's legacy (non-zip, torch < 1.6) files open with pickle protocol 2 and this LONG1 magic
# number; an NVIDIA pickle also starts with b"\x80" (a pickle protocol) but not with this.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


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


def embedded_beside(default: str | Path) -> dict[str, Path]:
    """The shipped models a server offers by name next to its `default` model: every one present
    except the default itself."""
    taken = EMBEDDED_DIR if str(default) == DEFAULT_NAME else Path(default).expanduser().resolve()
    return {name: path for name, path in EMBEDDED_MODELS.items() if is_model_folder(path) and path != taken}


def checkpoint_kind(path: Path) -> str:
    """'own', 'torch' (torch.save, zip or legacy format: rosinality, StyleMapGAN or latent-composition)
    or 'nvidia'."""
    if is_model_folder(path):
        return "own"
    if path.is_dir():
        raise ValueError(f"{path} is a folder without a model.json model card")
    with open_regular(path) as f:
        if is_zip(f):
            return "torch"
        f.seek(0)
        head = f.read(len(LEGACY_TORCH_MAGIC))
    if head == LEGACY_TORCH_MAGIC:
        return "torch"
    if head[:1] == b"\x80":
        return "nvidia"
    raise ValueError(f"{path.name}: not a recognised checkpoint (expected a GAN Collage model folder, "
                     "a rosinality or StyleMapGAN .pt, an NVIDIA .pkl or a latent-composition .pth)")


def _read_torch_checkpoint(path: Path) -> dict:
    """A torch.save checkpoint read once, then given to the reader of its family."""
    ckpt = load_checkpoint_dict(path)
    read = read_stylemapgan if is_stylemapgan_checkpoint(ckpt) else read_rosinality
    return read(path, ckpt)


def _foreign_card(path: Path, loaded: dict) -> dict:
    g = loaded["generator"]
    d: Discriminator | None = loaded.get("discriminator")
    file_name = printable(path.name)
    return {
        "name": printable(path.stem),
        "description": f"{loaded['source']['format']} checkpoint {file_name}",
        **latent_card(g),
        "generator": g.config.to_json(),
        "discriminator": d.config.to_json() if d is not None else None,
        "regressor": regressor_json(loaded.get("regressor")),
        "source": {"file": file_name, "sha256": sha256_of(path), **loaded["source"]},
        "notes": loaded.get("notes", []),
    }


def load_model(path: str | Path) -> Model:
    """The model at `path` (missing parts are None), all in eval mode."""
    p = resolve_path(path)
    kind = checkpoint_kind(p)
    if kind == "own":
        return read_own(p)
    if kind == "torch":
        loaded = _read_torch_checkpoint(p)
    else:
        from .nvidia import read_nvidia

        loaded = read_nvidia(p)
    return Model(loaded["generator"], loaded["discriminator"], loaded.get("regressor"), _foreign_card(p, loaded))


def load_generator(path: str | Path) -> Generator:
    """The generator contract (see DESIGN.md); the model card is attached as `g.card`."""
    model = load_model(path)
    g = model.generator
    g.card = model.card
    return g


def load_discriminator(path: str | Path) -> Discriminator | None:
    return load_model(path).discriminator


def load_regressor(path: str | Path) -> LatentRegressor | StyleMapEncoder:
    """A module mapping `(image * mask, mask)` to its model's latent: the project's own, a
    latent-composition file (W+), or a StyleMapGAN checkpoint's encoder (stylemap)."""
    p = resolve_path(path)
    if is_model_folder(p):
        r = read_own(p, parts=("regressor",)).regressor
        if r is None:
            raise ValueError(f"{p}: this model has no regressor")
        return r
    ckpt = load_checkpoint_dict(p) if checkpoint_kind(p) == "torch" else None
    if ckpt is not None and is_stylemapgan_checkpoint(ckpt):
        loaded = read_stylemapgan(p, ckpt)
        r = loaded["regressor"]
        r.card = {"regressor": regressor_json(r), "source": {"file": str(p), **loaded["source"]}}
        return r
    r = read_latentcomp_checkpoint(p, ckpt=ckpt)
    r.card = {"regressor": regressor_json(r), "source": {"file": str(p), "format": "latent-composition"}}
    return r
