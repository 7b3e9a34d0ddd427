"""Projection benchmark: speed on several generator sizes, quality on the embedded model.

    python -m server.tools.bench --out docs/benchmark.json --markdown docs/benchmark.md

Speed, per generator (the embedded model, and random-weight 256x256 and 1024x1024 generators of
standard width): one bare G forward+backward, the optimizer's ms per step with the pixel loss only
and with the default perceptual loss, their overhead over the bare pass, and regressor latency.
Per-step times are the difference of two runs of different lengths, so set-up cancels out.

Quality, on the embedded model: masked PSNR (pooled over the targets' covered pixels) after 0/10/50/100/300/1000
steps for W+ optimization from w_avg and for hybrid (regressor start), on held-out renderer images
and on collages of 2-3 held-out portraits, next to a reference-recipe projector (NVIDIA's: W space,
1000 steps, peak lr 0.1 with its ramps, noise regularization 1e5, decaying w noise, noise maps
optimised, perceptual distance only). This is a script, not a test: it prints a table and writes JSON.
`--no-quality` / `--no-speed` run one half (e.g. time on a quiet machine, measure quality later).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from server.engine.compose import compose
from server.engine.losses import masked_psnr
from server.engine.project import ProjectOptions, project
from server.models import Generator, GeneratorConfig, Model, load_model
from server.models.generator import channels_from_table
from server.models.regressor import LatentRegressor

STEP_COUNTS = (0, 10, 50, 100, 300, 1000)


def reference_recipe(steps: int) -> ProjectOptions:
    """NVIDIA's projector; its LPIPS-VGG16 distance is replaced by the model's D features unless
    VGG16 weights are supplied (none ship with the project)."""
    return ProjectOptions(method="optimize", space="w", init="w_avg", steps=steps, lr=0.1, lr_rampup=0.05,
                          lr_rampdown=0.25, initial_noise_factor=0.05, noise_ramp_length=0.75,
                          noise_reg_weight=1e5, optimize_noise=True, pixel_weight=0.0,
                          perceptual="discriminator")


def method_options(method: str, steps: int) -> ProjectOptions:
    if method == "reference":
        return reference_recipe(steps)
    if method == "hybrid":
        return ProjectOptions(method="regressor") if steps == 0 else ProjectOptions(method="hybrid", steps=steps)
    return ProjectOptions(method="optimize", space="w+", init="w_avg", steps=steps)


def psnr_after(model: Model, image, mask, method: str, steps: int) -> tuple[float, float]:
    """(masked PSNR, seconds) of `method` after `steps` steps; 0 steps = its starting point."""
    if steps == 0 and method != "hybrid":
        g = model.generator
        t0 = time.perf_counter()
        with torch.no_grad():
            start = g.synthesis(g.w_avg.reshape(1, 1, -1).repeat(image.shape[0], g.num_ws, 1))
        return masked_psnr(start, image, mask), time.perf_counter() - t0
    result = project(model, image, mask, method_options(method, steps))
    return result.metrics["masked_psnr"], result.metrics["seconds"]


def random_model(resolution: int, device: torch.device, seed: int = 0) -> Model:
    """Standard width (NVIDIA's channel_base 32768, channel_max 512), 512-d latents, 8 mapping layers;
    a latent-composition-shaped ResNet-34 regressor at 256 px input."""
    torch.manual_seed(seed)
    from server.models import Discriminator, DiscriminatorConfig

    channels = channels_from_table(resolution, 32768, 512)
    g = Generator(GeneratorConfig(resolution=resolution, z_dim=512, w_dim=512, channels=channels)).eval()
    d = Discriminator(DiscriminatorConfig(resolution=resolution, channels=channels)).eval()
    r = LatentRegressor(num_ws=g.num_ws, w_dim=512, block_counts=(3, 4, 6, 3), input_size=256).eval()
    return Model(g.to(device), d.to(device), r.to(device), card={"name": f"random-{resolution}"})


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` runs, after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def speed_row(name: str, model: Model, device: torch.device, steps: tuple[int, int], repeats: int) -> dict:
    g = model.generator
    torch.manual_seed(1)
    with torch.no_grad():
        target = g.synthesis(g.mapping(torch.randn(1, g.z_dim, device=device))).clamp(-1, 1)
    mask = torch.ones(1, 1, g.resolution, g.resolution, device=device)
    ws0 = g.w_avg.reshape(1, 1, -1).repeat(1, g.num_ws, 1)

    def bare():
        """What any latent optimizer must pay: G forward and the gradient w.r.t. W+ only (no weight grads)."""
        ws = ws0.clone().requires_grad_(True)
        (g.synthesis(ws, noise_mode="const") - target).square().mean().backward(inputs=[ws])

    def per_step(options: dict) -> float:
        short, long = steps

        def run(n):
            return lambda: project(model, target, mask, ProjectOptions(steps=n, **options))
        return (_timed(run(long), device, repeats) - _timed(run(short), device, repeats)) / (long - short)

    bare_s = _timed(bare, device, repeats)
    pixel_s = per_step({"perceptual": "none"})
    default_s = per_step({})
    r = model.regressor
    with torch.no_grad():
        regressor_s = _timed(lambda: r(target * mask, mask), device, repeats)
    return {"model": name, "resolution": g.resolution, "bare_fwd_bwd_ms": bare_s * 1e3,
            "step_pixel_ms": pixel_s * 1e3, "overhead_pixel_pct": (pixel_s / bare_s - 1) * 100,
            "step_default_ms": default_s * 1e3, "overhead_default_pct": (default_s / bare_s - 1) * 100,
            "regressor_ms": regressor_s * 1e3}


def quality_targets(kind: str, count: int, resolution: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from server.training.collages import collage_canvas, collage_seed_sets, heldout_seeds
    from server.training.portraits import render_portrait

    targets = []
    if kind == "heldout":
        for seed in heldout_seeds(count):
            rgb, _ = render_portrait(seed, resolution)
            img = torch.tensor(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1  # rgb is read-only
            targets.append((img, torch.ones(1, 1, resolution, resolution)))
    else:
        for seeds in collage_seed_sets(count):
            composed = compose(collage_canvas(seeds, resolution), resolution)
            targets.append((composed.image, composed.mask))
    return targets


def quality_rows(model: Model, device, count: int, step_counts, reference_steps) -> list[dict]:
    """All targets of a kind go through `project` as one batch (independent projections sharing a
    schedule), so the PSNR is pooled over the batch's covered pixels."""
    rows = []
    g = model.generator
    for kind in ("heldout", "collage"):
        pairs = quality_targets(kind, count, g.resolution)
        image = torch.cat([i for i, _ in pairs]).to(device)
        mask = torch.cat([m for _, m in pairs]).to(device)
        plan = [("optimize", s) for s in step_counts] + [("hybrid", s) for s in step_counts]
        plan += [("reference", s) for s in reference_steps]
        for method, steps in plan:
            psnr, seconds = psnr_after(model, image, mask, method, steps)
            rows.append({"targets": kind, "method": method, "steps": steps, "n": len(pairs),
                         "masked_psnr": psnr, "seconds_per_target": seconds / len(pairs)})
            print(f"  {kind:8s} {method:9s} {steps:5d} steps: PSNR {psnr:.2f} dB", flush=True)
    return rows


def markdown(report: dict) -> str:
    lines = ["# Projection benchmark", "", f"`{report['command']}`", "",
             f"Device: {report['device']}; {report['host']}; torch {report['torch']}."]
    if report["speed"]:
        lines += ["", "## Speed (batch 1, median of repeats)", "",
                  "| model | res | bare G fwd+bwd ms | step ms (pixel) | overhead | step ms (default loss) | overhead "
                  "| regressor ms |",
                  "|---|---|---|---|---|---|---|---|"]
    for r in report["speed"]:
        lines.append(f"| {r['model']} | {r['resolution']} | {r['bare_fwd_bwd_ms']:.1f} | {r['step_pixel_ms']:.1f} | "
                     f"{r['overhead_pixel_pct']:+.1f}% | {r['step_default_ms']:.1f} | "
                     f"{r['overhead_default_pct']:+.1f}% | "
                     f"{r['regressor_ms']:.1f} |")
    if report["quality"]:
        steps = sorted({r["steps"] for r in report["quality"]})
        lines += ["", "## Quality on the embedded model (masked PSNR dB, pooled over the targets)", "",
                  "| targets | method | " + " | ".join(f"{s} steps" for s in steps) + " |",
                  "|---|---|" + "---|" * len(steps)]
        for kind in ("heldout", "collage"):
            for method in ("optimize", "hybrid", "reference"):
                cells = {r["steps"]: r for r in report["quality"] if r["targets"] == kind and r["method"] == method}
                if cells:
                    lines.append(f"| {kind} | {method} | " + " | ".join(
                        f"{cells[s]['masked_psnr']:.2f}" if s in cells else "" for s in steps) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="the model for quality figures (and a speed row)")
    ap.add_argument("--sizes", default="256,1024", help="random standard-width generators to time")
    ap.add_argument("--images", type=int, default=8, help="targets per kind for quality")
    ap.add_argument("--steps", default=",".join(map(str, STEP_COUNTS)))
    ap.add_argument("--reference-steps", default="1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmark.json"))
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    embedded = load_model(args.model).to(device)
    speed = [] if args.no_speed else [
        speed_row(embedded.card.get("name", args.model), embedded, device, (10, 30), args.repeats)]
    for res in ([] if args.no_speed else [int(s) for s in args.sizes.split(",") if s]):
        steps = (2, 6) if res >= 512 else (5, 15)
        speed.append(speed_row(f"random-{res}", random_model(res, device), device, steps, args.repeats))
        print(json.dumps(speed[-1]), flush=True)
    quality = [] if args.no_quality else quality_rows(
        embedded, device, args.images, [int(s) for s in args.steps.split(",")],
        [int(s) for s in args.reference_steps.split(",") if s])
    arguments = argv if argv is not None else __import__("sys").argv[1:]
    report = {"command": "python -m server.tools.bench " + " ".join(arguments),
              "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
              "host": f"{platform.machine()}, {torch.get_num_threads()} threads", "torch": torch.__version__,
              "speed": speed, "quality": quality}
    args.out.write_text(json.dumps(report, indent=2))
    table = markdown(report)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
