"""Inspect and convert checkpoints.

    python -m server.models info CKPT              print the model card (JSON)
    python -m server.models export CKPT OUT_DIR    write the project's own format
        [--regressor ENCODER.pth] [--name NAME] [--half]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .loading import load_model, load_regressor
from .own_format import save_model


def cmd_info(args) -> int:
    card = load_model(args.checkpoint).card
    print(json.dumps(card, indent=2))
    return 0


def cmd_export(args) -> int:
    model = load_model(args.checkpoint)
    regressor = load_regressor(args.regressor) if args.regressor else model.regressor
    g = model.generator
    if regressor is not None and ((regressor.latent_kind, tuple(regressor.latent_shape))
                                  != (g.latent_kind, tuple(g.latent_shape))):
        print(f"error: the regressor gives a {regressor.latent_kind} latent {list(regressor.latent_shape)} but "
              f"the generator takes a {g.latent_kind} latent {list(g.latent_shape)}", file=sys.stderr)
        return 2
    src = model.card
    source = dict(src.get("source", {}))
    if args.regressor:
        source["regressor_file"] = str(args.regressor)
    card = save_model(args.out, g, model.discriminator, regressor,
                      name=args.name or src.get("name", args.out.name), description=src.get("description", ""),
                      source=source, notes=src.get("notes", []),
                      dtype=torch.float16 if args.half else torch.float32)
    print(f"wrote {args.out} ({card['weights']['bytes'] / 1e6:.1f} MB)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m server.models", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print the model card of a checkpoint")
    p.add_argument("checkpoint", help="model folder, .pt (rosinality or StyleMapGAN), .pkl, or 'default'")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("export", help="convert a checkpoint to the project's own format")
    p.add_argument("checkpoint")
    p.add_argument("out", type=Path)
    p.add_argument("--regressor", help="a regressor to ship with the generator instead of the checkpoint's own "
                                       "(a latent-composition encoder .pth, a model folder...)")
    p.add_argument("--name")
    p.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    p.set_defaults(func=cmd_export)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
