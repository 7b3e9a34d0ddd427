"""Train a latent regressor for any checkpoint, so its fast path and Live preview work.

    python -m server.training.train_regressor --model CHECKPOINT --out DIR \\
        [--iterations N] [--batch B] [--device auto|cpu|cuda:N] [--collage-kinds holes,pieces,strokes]
        [--images FOLDER_OR_NPY [--real-fraction F]]

CHECKPOINT is anything `server.models.load_model` reads: a rosinality or StyleMapGAN `.pt`, an NVIDIA
`.pkl`, a model folder, or "default". DIR becomes a model folder (generator, discriminator when the
checkpoint has one, the regressor, a card with the training figures) that `python -m server
--models-dir PARENT` serves under DIR's name. For a StyleGAN2 checkpoint the regressor is
latent-composition's W+ ResNet (sized by `regressor_nets.wplus_shape`: 256 px input for generators of
256 px and more); for a StyleMapGAN checkpoint it is the model's own encoder, fine-tuned. A checkpoint
that has a regressor of its own is fine-tuned from it (`--from-scratch`: a new one). What a step
trains on and with which losses: `regressor_trainer`.

**Where things live.** The resumable state is in `DIR/training/`: `train_config.json` (the run's
frozen config), `regressor.json` (the network's constructor arguments), `checkpoint.pt` (weights,
optimizer, RNG, counters; written atomically every `--checkpoint-minutes` and whenever the command
stops), `log.jsonl` and `reconstructions.png`. The model folder itself (`DIR/model.json`,
`DIR/weights.safetensors`) is rewritten each time the command stops: at the end, after `--hours`, and
on Ctrl-C or SIGTERM, which save a checkpoint first. So it is always servable, and running the same
command again resumes where it stopped (`--iterations` may change then; other settings are the run's).

**Evaluation.** When training stops other than by Ctrl-C, the held-out evaluation (`regressor_eval`:
PSNR of G(R(x)) on generator samples training never drew, whole and per collage kind) is printed and
stored in the card; a fine-tuned regressor's starting figures are measured first and stored beside.
With `--images`, the same kinds are also scored on the images held out of them (`evaluation_on_images`).

**Real images.** `--images PATH` (a folder of pictures, or a .npy of uint8 [N, S, S, 3]) puts
`--real-fraction` of each batch (default half) from them instead of generator samples: the same masks
and collages, pixel and perceptual losses, no latent loss (`image_source`). Photos like the ones an
artist cuts collages from are what the regressor meets in use; samples alone leave it several dB short
on them. The path is part of the run's config: resuming reads it from there.

**On CUDA:** bfloat16 autocast, channels-last, TF32, and without `--batch` the largest batch of 32,
16, 8... that fits the card (`accelerate`). On a CPU the batch defaults to 16; `--threads` sets torch's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from server.models import load_model
from server.models.loading import resolve_path
from server.models.own_format import CARD_FILE
from server.training import accelerate
from server.training.adversarial import bench
from server.training.collage_inputs import KINDS
from server.training.image_source import ImagesUnusable
from server.training.progress import TrainingBar
from server.training.regressor_eval import evaluate, table
from server.training.regressor_folder import update_record, write_model_folder
from server.training.regressor_nets import network_record, rebuild, starting_regressor
from server.training.regressor_trainer import RegressorConfig, RegressorTrainer
from server.training.runs import pick_device, train_loop
from server.training.ship import hardware

CONFIG_FILE, NETWORK_FILE, START_EVAL_FILE = "train_config.json", "regressor.json", "evaluation_at_start.json"


def kinds_list(text: str) -> list[str]:
    """`holes,pieces` -> ["holes", "pieces"]; "none" -> [] (masked samples only)."""
    kinds = [] if text.strip() == "none" else [k.strip() for k in text.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown collage kinds {unknown}; known: {', '.join(KINDS)}, or none")
    return kinds


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m server.training.train_regressor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the checkpoint: any file or folder load_model reads")
    ap.add_argument("--out", type=Path, required=True, help="the model folder to write (and resume from)")
    ap.add_argument("--iterations", type=int, help=f"steps in all (default {RegressorConfig.iterations})")
    ap.add_argument("--batch", type=int, help="images a step (default: 16 on a CPU, what fits on CUDA)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:N")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    ap.add_argument("--collage-kinds", type=kinds_list, metavar="KINDS",
                    help=f"collage inputs besides masked samples: some of {','.join(KINDS)}, or none")
    ap.add_argument("--collage-fraction", type=float, metavar="F",
                    help=f"share of each batch made collages (default {RegressorConfig.collage_fraction})")
    ap.add_argument("--images", type=Path, metavar="PATH",
                    help="real images to train on beside generator samples: a folder of pictures or a .npy "
                         "of uint8 [N, S, S, 3] (5%%, at most 64, held out for the evaluation)")
    ap.add_argument("--real-fraction", type=float, metavar="F",
                    help=f"share of each batch drawn from --images (default {RegressorConfig.real_fraction})")
    ap.add_argument("--from-scratch", action="store_true", help="a new regressor even when the checkpoint has one")
    ap.add_argument("--eval-images", type=int, help=f"held-out samples (default {RegressorConfig.eval_images})")
    ap.add_argument("--config", type=Path, help="JSON overrides of RegressorConfig fields (new runs only)")
    ap.add_argument("--name", help="the model's name in its card (default: DIR's name)")
    ap.add_argument("--hours", type=float, help="also stop after this many hours (this call)")
    ap.add_argument("--checkpoint-minutes", type=float, default=10)
    ap.add_argument("--log-every", type=int, default=100, help="a line in log.jsonl every this many steps")
    ap.add_argument("--bench", type=int, default=0, metavar="N", help="time N steps, print images/s, write nothing")
    return ap.parse_args(argv)


def flag_settings(args) -> dict:
    """The RegressorConfig fields the command line sets."""
    flags = {"iterations": args.iterations, "batch": args.batch, "collage_kinds": args.collage_kinds,
             "collage_fraction": args.collage_fraction, "eval_images": args.eval_images,
             "images": str(args.images.resolve()) if args.images else None, "real_fraction": args.real_fraction}
    if args.from_scratch:
        flags["finetune"] = False
    return {k: v for k, v in flags.items() if v is not None}


def run_settings(run: Path, args) -> tuple[RegressorConfig, bool]:
    """(the run's config, whether the run exists): a new run's from the defaults, `--config` and the
    flags; an existing run's as frozen, with `--iterations` applied and any other contradicting flag refused."""
    flags = flag_settings(args)
    path = run / CONFIG_FILE
    if not path.exists():
        overrides = json.loads(args.config.read_text()) if args.config else {}
        cfg = RegressorConfig(**{**overrides, **flags})
        if cfg.images:  # a config file's path is relative to where the command runs; resuming may not
            cfg.images = str(Path(cfg.images).resolve())
        return cfg, False
    cfg = RegressorConfig(**json.loads(path.read_text()))
    conflicts = {k: v for k, v in flags.items() if k != "iterations" and getattr(cfg, k) != v}
    if conflicts:
        frozen = ", ".join(f"{k} {getattr(cfg, k)!r} (asked {v!r})" for k, v in conflicts.items())
        raise SystemExit(f"{run.parent} holds a run with {frozen}: rerun without those flags to resume it, "
                         "or choose another --out")
    cfg.iterations = flags.get("iterations", cfg.iterations)
    return cfg, True


def check_out(model: str, out: Path) -> None:
    """Refuse an --out that is the checkpoint itself, or a model folder this command did not make."""
    if out.resolve() == resolve_path(model).resolve():
        raise SystemExit("--out must be a new folder, not the checkpoint's own")
    if (out / CARD_FILE).exists() and not (out / "training" / CONFIG_FILE).exists():
        raise SystemExit(f"{out} already holds a model this command did not make; choose another --out")


def describe(r: torch.nn.Module) -> str:
    params = sum(p.numel() for p in r.parameters()) / 1e6
    size = getattr(r, "input_size", None)
    return f"{type(r).__name__}, {params:.2f}M parameters" + (f", {size} px input" if size else "")


def record(trainer: RegressorTrainer, reason: str, start_eval: dict) -> dict:
    """The card's `training.regressor`: config, origin, progress, hardware (evaluation added later)."""
    return {"config": asdict(trainer.cfg), "initialised_from": trainer.origin, "iterations": trainer.step,
            "images": trainer.images_seen, "wall_hours": round(trainer.wall_seconds / 3600, 3),
            "complete": trainer.step >= trainer.cfg.iterations, "stopped": reason,
            "device": str(trainer.device), "hardware": hardware(), "evaluation": None,
            "evaluation_at_start": None, **start_eval}


def held_out(trainer: RegressorTrainer, suffix: str = "", grid: Path | None = None) -> dict:
    """The card's evaluation fields (`evaluation` + suffix, and `evaluation_on_images` + suffix when the
    run has real images): held-out generator samples, and the held-out real images."""
    found = {"evaluation" + suffix: evaluate(trainer.G, trainer.R, trainer.cfg.eval_images, trainer.cfg.batch,
                                             trainer.device, trainer.amp, grid)}
    if trainer.images is not None:
        found["evaluation_on_images" + suffix] = evaluate(trainer.G, trainer.R, len(trainer.images.heldout),
                                                          trainer.cfg.batch, trainer.device, trainer.amp,
                                                          source=trainer.images)
    return found


def tables(found: dict, start: dict) -> str:
    """The evaluation's text, each table against its starting figures when there are some."""
    return "\n".join(table(found[key], start.get(key + "_at_start")) for key in found)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    accelerate.configure(device)
    out, run = args.out, args.out / "training"
    check_out(args.model, out)
    cfg, resuming = run_settings(run, args)
    model = load_model(args.model)
    g = model.generator
    if resuming:
        network = json.loads((run / NETWORK_FILE).read_text())
        regressor, origin = rebuild(network), network["origin"]
    else:
        torch.manual_seed(cfg.seed)  # a new regressor's initial weights
        regressor, origin = starting_regressor(model, cfg.finetune, cfg.wplus_shape(g.resolution))
    try:
        trainer = RegressorTrainer(cfg, model, regressor, origin, run, device)
    except ImagesUnusable as exc:  # a usage error, not a traceback
        raise SystemExit(f"--images: {exc}") from None
    if not resuming and args.batch is None and device.type == "cuda":
        cfg.batch = accelerate.fit_batch(trainer.try_batch, device)
    if args.bench:
        bench(trainer, args.bench, cfg.batch)
        return 0

    start_eval = {}
    if resuming:
        trainer.try_resume()
        (run / CONFIG_FILE).write_text(json.dumps(asdict(cfg), indent=2))  # --iterations may have changed
        if (run / START_EVAL_FILE).exists():
            start_eval = json.loads((run / START_EVAL_FILE).read_text())
    else:
        run.mkdir(parents=True, exist_ok=True)
        (run / CONFIG_FILE).write_text(json.dumps(asdict(cfg), indent=2))
        (run / NETWORK_FILE).write_text(json.dumps({**network_record(g, regressor), "origin": origin}, indent=2))
        if origin == "checkpoint":
            start_eval = held_out(trainer, "_at_start")
            (run / START_EVAL_FILE).write_text(json.dumps(start_eval, indent=2))
            print("\n".join(table(e) for e in start_eval.values()).replace(
                "held-out evaluation", "the checkpoint's own regressor"), flush=True)
    start = "fine-tuning the checkpoint's regressor" if origin == "checkpoint" else "a new regressor"
    if trainer.images is not None:
        print(f"real images: {trainer.images.describe()}, {cfg.real_fraction:.0%} of each batch", flush=True)
    print(f"{'resumed at step ' + str(trainer.step) if resuming else 'new run'}: {start} "
          f"({describe(trainer.R)}); {g.latent_kind} latent {list(g.latent_shape)}; batch {cfg.batch} "
          f"on {device}{', bfloat16' if trainer.amp else ''}, {torch.get_num_threads()} threads", flush=True)

    bar = TrainingBar(cfg.iterations, trainer.step, cfg.batch, every=args.log_every)
    t0 = time.perf_counter()
    reason = train_loop(trainer, lambda: trainer.step >= cfg.iterations, run / "log.jsonl", args.log_every,
                        args.hours, args.checkpoint_minutes, bar=bar)
    write_model_folder(out, model, trainer.R, record(trainer, reason, start_eval), args.name or out.name)
    print(f"stopped at step {trainer.step}/{cfg.iterations} ({reason}, {time.perf_counter() - t0:.0f} s); "
          f"wrote {out}", flush=True)
    if trainer.images is not None and trainer.images.unreadable:
        bad = trainer.images.unreadable
        print(f"skipped {len(bad)} pictures that could not be read: {', '.join(bad[:5])}"
              f"{' ...' if len(bad) > 5 else ''}", flush=True)
    if reason != "interrupted":
        evaluation = held_out(trainer, grid=run / "reconstructions.png")
        update_record(out, **evaluation)
        print(tables(evaluation, start_eval), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
