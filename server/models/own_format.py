"""The project's own model format: a folder with `model.json` (the model card) and
`weights.safetensors` (tensors prefixed `generator.`, `discriminator.`, `regressor.`).
The card names its weights file, which must lie inside the folder and be a regular file
(:mod:`.untrusted_files`); the card itself is at most :data:`MAX_CARD_BYTES` of valid Unicode text.

The card's `family` names the networks: "stylegan2" (also when absent, as in format version 1 cards)
or "stylemapgan" (format version 2: StyleMapGAN generator and encoder, StyleGAN2 discriminator).
safetensors holds only tensors, so reading a model never runs code from the file.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load, save_file

from .discriminator import Discriminator, DiscriminatorConfig
from .generator import Generator, GeneratorConfig
from .model import PARTS, Model
from .regressor import LatentRegressor, build_regressor, regressor_config
from .stylemapgan import StyleMapConfig, StyleMapEncoder, StyleMapEncoderConfig, StyleMapGenerator
from .untrusted_files import inside_folder, open_regular

FORMAT_NAME = "gan-collage-model"
FORMAT_VERSION = 2  # the newest this program reads
STYLEGAN2, STYLEMAPGAN = "stylegan2", "stylemapgan"
FAMILY_FORMAT_VERSION = {STYLEGAN2: 1, STYLEMAPGAN: 2}  # what a card of each family is written as
BUILDERS = {
    STYLEGAN2: {"generator": lambda c: Generator(GeneratorConfig.from_json(c)),
                "regressor": build_regressor},
    STYLEMAPGAN: {"generator": lambda c: StyleMapGenerator(StyleMapConfig.from_json(c)),
                  "regressor": lambda c: StyleMapEncoder(StyleMapEncoderConfig.from_json(c))},
}
CARD_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
MAX_CARD_BYTES = 1 << 20  # the embedded model's card is 3 KB


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / CARD_FILE).is_file()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def family_of(generator) -> str:
    return STYLEMAPGAN if isinstance(generator, StyleMapGenerator) else STYLEGAN2


def latent_card(generator) -> dict:
    """The card fields describing a generator and its latent, the same in every card that has one."""
    fields = {"family": family_of(generator), "resolution": generator.resolution, "z_dim": generator.z_dim,
              "c_dim": generator.c_dim, "latent_kind": generator.latent_kind,
              "latent_shape": list(generator.latent_shape), "num_levels": generator.num_levels}
    if isinstance(generator, StyleMapGenerator):
        fields.update(latent_channels=generator.config.latent_channels, latent_size=generator.config.latent_size)
    else:
        fields.update(num_ws=generator.num_ws, w_dim=generator.w_dim)
    return fields


def regressor_json(regressor) -> dict | None:
    """The regressor's constructor arguments (a StyleMapGAN encoder's config, or a LatentRegressor's)."""
    if regressor is None:
        return None
    return regressor.config.to_json() if isinstance(regressor, StyleMapEncoder) else regressor_config(regressor)


def save_model(folder: Path, generator: Generator | StyleMapGenerator, discriminator: Discriminator | None = None,
               regressor: LatentRegressor | StyleMapEncoder | None = None, *, name: str, description: str = "",
               source: dict | None = None, notes: list[str] | None = None, extra: dict | None = None,
               dtype: torch.dtype = torch.float32) -> dict:
    """Write the folder and return the card. `dtype` float16 halves the size (loading gives float32)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for part, module in zip(PARTS, (generator, discriminator, regressor)):
        if module is not None:
            for key, value in module.state_dict().items():
                tensors[f"{part}.{key}"] = value.detach().to("cpu", dtype).contiguous()
    weights = folder / WEIGHTS_FILE
    save_file(tensors, str(weights), metadata={"format": FORMAT_NAME})
    card = {
        "format": FORMAT_NAME,
        "format_version": FAMILY_FORMAT_VERSION[family_of(generator)],
        "name": name,
        "description": description,
        **latent_card(generator),
        "generator": generator.config.to_json(),
        "discriminator": discriminator.config.to_json() if discriminator is not None else None,
        "regressor": regressor_json(regressor),
        "weights": {"file": WEIGHTS_FILE, "dtype": str(dtype).removeprefix("torch."),
                    "bytes": weights.stat().st_size, "sha256": sha256_of(weights)},
        "source": source or {},
        "notes": notes or [],
    }
    if extra:
        card.update(extra)
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return card


def read_card(folder: Path) -> dict:
    try:
        with open_regular(folder / CARD_FILE) as f:
            text = f.read(MAX_CARD_BYTES + 1)
        if len(text) > MAX_CARD_BYTES:
            raise ValueError(f"more than {MAX_CARD_BYTES:,} bytes")
        card = json.loads(text)
        if not isinstance(card, dict):
            raise ValueError(f"a JSON {type(card).__name__}, not an object")
        json.dumps(card, ensure_ascii=False).encode("utf-8")  # JSON may spell a lone surrogate ("\\ud800"),
        # which would break every protobuf string it reached: refused here, with the reason
    except UnicodeEncodeError:
        raise ValueError(f"{folder / CARD_FILE}: text that is not valid Unicode (a lone surrogate)") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{folder}: unreadable model card {CARD_FILE} ({exc})") from exc
    if card.get("format") != FORMAT_NAME:
        raise ValueError(f"{folder / CARD_FILE}: not a {FORMAT_NAME} card (format={card.get('format')!r})")
    if card.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{folder / CARD_FILE}: format_version {card['format_version']} is newer than "
                         f"this program reads ({FORMAT_VERSION}); update GAN Collage")
    return card


def _part_state(tensors: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    prefix = part + "."
    return {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}


def read_own(folder: Path, parts: tuple[str, ...] = PARTS) -> Model:
    """The model in `folder`; parts absent from it (or not in `parts`) are None."""
    card = read_card(folder)
    family = card.get("family", STYLEGAN2)
    if family not in BUILDERS:
        raise ValueError(f"{folder / CARD_FILE}: unknown model family {family!r} (known: {sorted(BUILDERS)})")
    weights = card.get("weights")
    path = inside_folder(folder, weights.get("file") if isinstance(weights, dict) else None,
                         f"{folder / CARD_FILE}: weights.file")
    with open_regular(path) as f:
        tensors = load(f.read())
    builders = {**BUILDERS[family], "discriminator": lambda c: Discriminator(DiscriminatorConfig.from_json(c))}
    out = {}
    for part in PARTS:
        if part not in parts or not card.get(part):
            out[part] = None
            continue
        try:
            module = builders[part](card[part])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{folder / CARD_FILE}: the {part} config is not valid ({exc})") from exc
        try:
            module.load_state_dict(_part_state(tensors, part), strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{folder}: the {part} weights do not match the card ({exc})") from exc
        out[part] = module.eval()
    return Model(**out, card=card)
