"""How much of a collage each model's fast path keeps: pieces, painted strokes and holes, one table.

    python -m server.tools.collage_eval --model default --model runs/smgan64-ship \\
        --count 24 --out docs/benchmark/collages.json --grid docs/benchmark/collages.png

Three kinds of collage, all built from held-out portraits (never trained on), as the engine's
`Canvas` at 4x the model's resolution (the compose step averages them onto the model's grid, as
Realize does for an artist's document):

* `pieces`: portrait A with B's facial features and, every other one, C's hair and hat on top
  (server/training/collages.py);
* `strokes`: portrait A with a layer of flat painted strokes: a hat, a pair of glasses rims and a few
  brush lines, each in its own seeded colour (what the issue tracker calls "painted strokes");
* `holes`: portrait A with a transparent hole (an ellipse of about a fifth of the image): the model
  must fill it.

For each model and each collage mode it offers (W+ models: `composite`; stylemap models: `composite`
and `layers`, see server/engine/stylemap_collage.py) the Realize job runs with the regressor (and
`--hybrid-steps` of hybrid), region = the whole canvas, and the result is scored at model resolution:
masked PSNR over every covered pixel (`all`), for strokes over the strokes' own pixels
(`strokes only`: are they kept?), and for holes over the hole against the portrait that was cut
(`hole fill`: what the model puts where nothing was given). Seeded; the same command gives the same figures.
A script, not a test: it prints the table (markdown) and writes JSON and, with `--grid`, the collages and results.

For a stylemap model it also measures what its encoder makes of uncovered pixels (the encoder has no
mask input: they reach it as 0, mid-grey) against filling them with the model's mean image first:
`hole fill` rows of method `encoder, grey` and `encoder, mean image`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from server.engine.canvas import Canvas, Layer
from server.engine.compose import compose
from server.engine.losses import masked_psnr
from server.engine.pixels import to_uint8_hwc
from server.engine.project import ProjectOptions
from server.engine.realize import RealizeOptions, realize
from server.models import load_model
from server.shared.region import Square
from server.training.collages import collage_canvas, collage_seed_sets, heldout_seeds
from server.training.grids import make_grid
from server.training.portraits import render_portrait

KINDS = ("pieces", "strokes", "holes")
SCALE = 4  # collages are built at 4x the model's resolution


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def strokes_layer(size: int, seed: int) -> np.ndarray:
    """RGBA (size, size, 4): a flat hat, glasses rims and three brush lines on transparency."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def colour():
        return tuple(int(v) for v in rng.integers(0, 256, 3)) + (255,)

    s = size / 64
    brim = 16 + rng.uniform(-2, 2)
    hat = colour()
    draw.rectangle([14 * s, (brim - 11) * s, 50 * s, brim * s], fill=hat)  # crown
    draw.rectangle([8 * s, brim * s, 56 * s, (brim + 3) * s], fill=hat)  # brim
    rims, eyes = colour(), 30 + rng.uniform(-1.5, 1.5)
    for cx in (24, 40):
        draw.ellipse([(cx - 6) * s, (eyes - 4) * s, (cx + 6) * s, (eyes + 4) * s], outline=rims,
                     width=max(1, round(1.5 * s)))
    for _ in range(3):
        points = [tuple(float(v) for v in rng.uniform(6, 58, 2) * s) for _ in range(3)]
        draw.line(points, fill=colour(), width=max(1, round(2.5 * s)), joint="curve")
    return np.asarray(image)


def hole_mask(size: int, seed: int) -> np.ndarray:
    """uint8 (size, size): 255 except an ellipse of about a fifth of the image."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (size, size), 255)
    cx, cy = rng.uniform(0.3, 0.7, 2) * size
    rx, ry = rng.uniform(0.18, 0.3, 2) * size
    ImageDraw.Draw(image).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=0)
    return np.asarray(image)


def collage(kind: str, index: int, size: int) -> tuple[Canvas, np.ndarray | None]:
    """(the canvas, the pixels (size, size) scored on their own: the strokes' coverage, the hole, or None)."""
    if kind == "pieces":
        return collage_canvas(collage_seed_sets(index + 1)[index], size), None
    seed = heldout_seeds(1, offset=7000 + index)[0]
    base, _ = render_portrait(seed, size)
    if kind == "strokes":
        strokes = strokes_layer(size, seed)
        layers = [Layer(_rgba(base), name="portrait"), Layer(strokes, name="strokes")]
        return Canvas(size, size, layers), strokes[..., 3]
    hole = hole_mask(size, seed)
    return Canvas(size, size, [Layer(_rgba(base), mask=hole, name="portrait with a hole")]), 255 - hole


def modes_of(model) -> tuple[str, ...]:
    return ("composite", "layers") if model.generator.latent_kind == "stylemap" else ("composite",)


def evaluate(model, name: str, count: int, hybrid_steps: int, log) -> tuple[list[dict], list[np.ndarray]]:
    """One row per (kind, mode, method) with mean masked PSNRs; the grid rows (targets, then results)."""
    g = model.generator
    r = g.resolution
    size = r * SCALE
    region = Square(0, 0, size)
    rows, grid = [], []
    methods = [("regressor", ProjectOptions(method="regressor"))]
    if hybrid_steps:
        methods.append((f"hybrid-{hybrid_steps}", ProjectOptions(method="hybrid", steps=hybrid_steps)))
    for kind in KINDS:
        cases = [collage(kind, i, size) for i in range(count)]
        targets = [compose(canvas, r, region=region) for canvas, _ in cases]
        own = [None if pixels is None else
               torch.from_numpy(np.asarray(Image.fromarray(pixels).resize((r, r), Image.BOX)) / 255.0)
               .float()[None, None] for _, pixels in cases]
        # the hole is scored against the whole portrait it was cut from
        truths = [compose(Canvas(c.width, c.height, [replace(c.layers[0], mask=None)]), r, region=region).image
                  if kind == "holes" else t.image for (c, _), t in zip(cases, targets)]
        grid.append(to_uint8_hwc(torch.cat([t.image * t.mask + (t.mask - 1) for t in targets]))[:8])
        for mode in modes_of(model):
            for method, options in methods:
                started = time.perf_counter()
                psnr_all, psnr_own, images = [], [], []
                for (canvas, _), target, pixels, truth in zip(cases, targets, own, truths):
                    result = realize(model, canvas, RealizeOptions(options, region=region, skip_layer=True,
                                                                   collage=mode))
                    image = torch.from_numpy(result.generated).permute(2, 0, 1)[None].float() / 127.5 - 1
                    images.append(image)
                    psnr_all.append(masked_psnr(image, target.image, target.mask))
                    if pixels is not None:
                        psnr_own.append(masked_psnr(image, truth, pixels))
                row = {"model": name, "kind": kind, "mode": mode, "method": method, "count": count,
                       "masked_psnr": statistics.mean(psnr_all),
                       "own_psnr": statistics.mean(psnr_own) if psnr_own else None,
                       "seconds_per_collage": (time.perf_counter() - started) / count}
                rows.append(row)
                log(row)
                if method == "regressor":
                    grid.append(to_uint8_hwc(torch.cat(images))[:8])
    return rows, grid


@torch.no_grad()
def hole_fill_study(model, name: str, count: int) -> list[dict]:
    """The `holes` collages encoded as Realize does (uncovered pixels 0) and with the model's mean image
    (its mean stylemap rendered) in the hole: masked PSNR over the known pixels and over the hole."""
    g, encoder = model.generator, model.regressor
    r = g.resolution
    region = Square(0, 0, r * SCALE)
    mean_image = g.synthesis(g.w_avg[None].float())
    scores = {"grey": ([], []), "mean image": ([], [])}
    for index in range(count):
        canvas, _ = collage("holes", index, r * SCALE)
        target = compose(canvas, r, region=region)
        truth = compose(Canvas(canvas.width, canvas.height, [replace(canvas.layers[0], mask=None)]), r,
                        region=region).image
        known = target.image * target.mask
        for fill, image in (("grey", known), ("mean image", known + mean_image * (1 - target.mask))):
            result = g.synthesis(encoder(image, target.mask))
            scores[fill][0].append(masked_psnr(result, target.image, target.mask))
            scores[fill][1].append(masked_psnr(result, truth, 1 - target.mask))
    return [{"model": name, "kind": "holes", "mode": "composite", "method": f"encoder, {fill}", "count": count,
             "masked_psnr": statistics.mean(known), "own_psnr": statistics.mean(hole), "seconds_per_collage": 0.0}
            for fill, (known, hole) in scores.items()]


def markdown(rows: list[dict], command: str) -> str:
    lines = [f"`{command}`", "",
             "| model | collage | mode | method | masked PSNR (dB) | strokes only / hole fill (dB) | s / collage |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        own = "" if row["own_psnr"] is None else f"{row['own_psnr']:.2f}"
        lines.append(f"| {row['model']} | {row['kind']} | {row['mode']} | {row['method']} | "
                     f"{row['masked_psnr']:.2f} | {own} | {row['seconds_per_collage']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="a model path or 'default' (repeatable)")
    parser.add_argument("--count", type=int, default=24, help="collages of each kind")
    parser.add_argument("--hybrid-steps", type=int, default=0, help="also run hybrid with this many steps")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON of the rows")
    parser.add_argument("--grid", type=Path, help="PNG: per model, each kind's targets then each mode's results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    arguments = argv if argv is not None else __import__("sys").argv[1:]
    command = "python -m server.tools.collage_eval " + " ".join(arguments)
    rows, grids = [], []
    for path in args.model:
        model = load_model(path)
        name = model.card.get("name", str(path))
        found, grid = evaluate(model, name, args.count, args.hybrid_steps,
                               lambda row: print(json.dumps(row), flush=True))
        rows += found
        if model.generator.latent_kind == "stylemap":
            rows += hole_fill_study(model, name, args.count)
        grids.append(grid)
    print(markdown(rows, command))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    if args.grid:
        for index, grid in enumerate(grids):
            path = args.grid if len(grids) == 1 else args.grid.with_name(f"{args.grid.stem}-{index}{args.grid.suffix}")
            image = make_grid(np.concatenate(grid), gap=2, columns=len(grid[0]))
            Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.NEAREST).save(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
