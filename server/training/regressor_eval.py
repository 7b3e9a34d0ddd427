"""The held-out evaluation of a regressor: how much of its input G(R(input)) gives back.

Held-out images are the generator's own samples from z drawn with `EVAL_SEED`, a seed training never
uses (truncation 1, no style mixing). Each kind of input is scored by the PSNR of G(R(input)) against
what the regressor should give back, over the input's visible pixels, pooled over all images:

* ``whole``: the sample itself, all visible (plain reconstruction);
* ``holes``, ``pieces``, ``strokes``: the sample turned into that kind of collage by
  `collage_inputs.collage_batch`, seeded per kind, so every evaluation sees the same collages.

With real images (`train_regressor --images`), the same kinds are also scored on the images it held
out of training.

The same figures for the same networks and seed, whatever trained them: a fine-tuned regressor is
compared with where it started.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from server.engine.losses import DATA_RANGE, masked_pixel_loss
from server.training.accelerate import autocast
from server.training.collage_inputs import KINDS, collage_batch
from server.training.grids import save_grid
from server.training.image_source import ImageSource
from server.training.regressor_nets import sample_latents

EVAL_SEED = 20_231_123
EVAL_KINDS = ("whole",) + KINDS
GRID_COLUMNS = 8


def eval_inputs(images: torch.Tensor, kind: str,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input, visible, target) of `kind` for a batch of samples."""
    if kind == "whole":
        return images, torch.ones_like(images[:, :1]), images
    col = collage_batch(images, gen, (kind,))
    return col.inputs, col.visible, col.targets


@torch.no_grad()
def evaluate(g, r, count: int, batch: int, device: torch.device, amp: bool = False,
             grid: Path | None = None, source: ImageSource | None = None) -> dict:
    """{"images", "seed", "psnr_db": {kind: dB}} for regressor `r` (in eval mode while scored) on
    `count` held-out samples of `g`, `batch` at a time; with `source`, on the first `count` of its
    held-out real images instead ("source" then names them). `grid`: also save the first images of each kind as a PNG, a
    row of inputs over a row of their reconstructions."""
    was_training = r.training
    r.eval()
    gen = torch.Generator().manual_seed(EVAL_SEED)
    kind_gens = {kind: torch.Generator().manual_seed(EVAL_SEED + i + 1) for i, kind in enumerate(EVAL_KINDS)}
    error = {kind: 0.0 for kind in EVAL_KINDS}
    covered = {kind: 0.0 for kind in EVAL_KINDS}
    rows = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        if source is not None:
            images = source.load(source.heldout[start:start + n], device)
        else:
            with autocast(device, amp):
                latents = sample_latents(g, n, gen, 0.0, device)
                images = g.synthesis(latents, noise_mode="const").float().clamp(-1, 1)
        for kind in EVAL_KINDS:
            inputs, visible, target = eval_inputs(images, kind, kind_gens[kind])
            with autocast(device, amp):
                recon = g.synthesis(r(inputs, visible), noise_mode="const").float()
            cover = float(visible.sum())
            error[kind] += float(masked_pixel_loss(recon, target, visible)) * cover
            covered[kind] += cover
            if start == 0 and grid is not None:
                rows += [inputs[:GRID_COLUMNS].cpu(), recon[:GRID_COLUMNS].cpu()]
    r.train(was_training)
    if rows:
        save_grid(torch.cat(rows), grid, nrow=len(rows[0]))
    result = {"images": count, "seed": EVAL_SEED,
              "psnr_db": {kind: round(psnr(error[kind] / covered[kind]), 2) for kind in EVAL_KINDS}}
    if source is not None:
        result["source"] = str(source.path)
    return result


def psnr(mse: float) -> float:
    """dB for images in [-1, 1] (`server.engine.losses.masked_psnr`'s peak)."""
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE ** 2 / mse)


def table(evaluation: dict, before: dict | None = None) -> str:
    """The figures as aligned text lines; with `before`, the starting figures and the change."""
    what = (f"held-out images of {evaluation['source']}" if "source" in evaluation
            else f"generator samples (seed {evaluation['seed']})")
    lines = [f"held-out evaluation: {evaluation['images']} {what}, PSNR over visible pixels"]
    for kind, db in evaluation["psnr_db"].items():
        line = f"  {kind:<8} {db:6.2f} dB"
        if before:
            was = before["psnr_db"][kind]
            line += f"   (was {was:6.2f} dB, {db - was:+.2f})"
        lines.append(line)
    return "\n".join(lines)
