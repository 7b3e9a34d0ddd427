"""Package trained networks as the embedded default model (the project's own format).

    python -m server.training.ship --gan runs/portraits64 [--regressor runs/portraits64-r] \
        [--out server/models/embedded]
    python -m server.training.ship --regressor runs/regressor-collage   # a new regressor, the same GAN

Writes G_ema, D and (when given) the regressor as float16 safetensors plus a model card with the
training configuration, iterations, wall time and hardware of each run. `--regressor` is a model
folder written by `python -m server.training.train_regressor` for this run's generator (for example
`--model runs/gd`, where `ship --gan RUN --out runs/gd` wrote G and D, or `--model default` to
fine-tune the shipped regressor); its regressor and its card's `training.regressor` record are taken.
Without `--gan`, G, D and the card's GAN record are those already at `--out` (the GAN run folder need
not be on this machine), and the folder's other files (its attribute directions) stay.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from server.models.discriminator import Discriminator
from server.models.generator import Generator
from server.models.loading import EMBEDDED_DIR, load_model
from server.models.own_format import save_model
from server.training.train_gan import TrainConfig


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} torch threads, {gpu}"


def load_gan_run(run_dir: Path) -> tuple[Generator, Discriminator, dict]:
    st = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig(**st["config"])
    g = Generator(cfg.generator_config())
    g.load_state_dict(st["G_ema"])
    g.mapping.w_avg.copy_(g.estimate_w_avg(10_000, seed=0))
    d = Discriminator(cfg.discriminator_config())
    d.load_state_dict(st["D"])
    info = {"config": st["config"], "iterations": st["step"], "kimg": st["images_seen"] / 1000,
            "wall_hours": round(st["wall_seconds"] / 3600, 2)}
    return g.eval(), d.eval(), info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gan", type=Path, help="GAN training run folder (default: keep the GAN at --out)")
    ap.add_argument("--regressor", type=Path, help="model folder written by server.training.train_regressor")
    ap.add_argument("--out", type=Path, default=EMBEDDED_DIR)
    ap.add_argument("--note", action="append", default=[], help="a line for the card's notes")
    ap.add_argument("--hardware", default=None, help="describe the training hardware (default: this machine)")
    args = ap.parse_args(argv)

    if args.gan:
        g, d, gan_info = load_gan_run(args.gan)
        training = {"gan": gan_info, "hardware": args.hardware or hardware(),
                    "dataset": {"renderer": "server.training.portraits",
                                "seeds": f"TRAIN_SEEDS[:{gan_info['config']['dataset_size']}]",
                                "held_out": "HELDOUT_SEEDS (never trained on)"}}
    elif args.regressor:
        shipped = load_model(args.out)
        g, d, training = shipped.generator, shipped.discriminator, dict(shipped.card.get("training", {}))
    else:
        raise SystemExit("give --gan (a new GAN), --regressor (a new regressor for the GAN at --out), or both")
    r = None
    if args.regressor:
        trained = load_model(args.regressor)
        r, record = trained.regressor, trained.card.get("training", {}).get("regressor")
        if r is None or record is None:
            raise SystemExit(f"{args.regressor} is not a model folder written by server.training.train_regressor")
        if r.has_w_avg:
            r.set_w_avg(g.w_avg)
        if not args.gan and record.get("initialised_from") == "checkpoint" and "regressor" in training:
            record = {**record, "fine_tuned_from": training["regressor"]}  # the shipped one's own record
        training["regressor"] = record
    card = save_model(
        args.out, g, d, r, name="portraits-64",
        description="GAN Collage's embedded StyleGAN2: illustrated portraits at 64x64, trained by the "
                    "project on its own procedural renderer",
        source={"format": "gan-collage-training", "w_avg": "mean of mapping(z) over 10000 z (torch seed 0)"},
        notes=args.note, extra={"training": training}, dtype=torch.float16)
    print(json.dumps({k: card[k] for k in ("name", "resolution", "num_ws", "weights")}, indent=2))


if __name__ == "__main__":
    main()
