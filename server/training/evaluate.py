"""Evidence for an embedded model's card: grids, reconstructions, collages and their figures.

    python -m server.training.evaluate --model default --out docs/model-card
    python -m server.training.evaluate --model server/models/embedded/portraits-stylemap-64 \
        --out docs/model-card/stylemap

Writes into --out: `samples.png` (truncation 1.0 and 0.7), `style_mixing.png`,
`reconstructions.png`, `collages.png`, `metrics.json` and `results.md` (the tables the card page
quotes), and for a stylemap model `local_edits.png`. Reconstruction figures are masked PSNR / SSIM
on the visible pixels of held-out renderer images (never trained on) at full, 50% and 25% visible
blob masks, for one regressor (encoder) pass and for 500-step optimization from the mean latent (of
W+, or of the stylemap itself). Everything is seeded: the same command gives the same numbers.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from server.engine.compose import compose
from server.engine.edits import style_mix, style_mix_levels, stylemap_blend
from server.engine.latents import STYLEMAP
from server.engine.losses import masked_psnr, masked_ssim
from server.engine.pixels import to_uint8_hwc
from server.engine.project import ProjectOptions, project
from server.models import Model, load_model
from server.training.collages import collage_canvas, collage_seed_sets, heldout_seeds
from server.training.grids import make_grid
from server.training.masks import masks_with_fraction
from server.training.portraits import part_masks, render_batch, render_portrait

FRACTIONS = (1.0, 0.5, 0.25)
GRID_GAP = 2


def save_rows(rows: list[np.ndarray], path: Path, scale: int = 2):
    """Each row an [N, H, W, 3] array of the same N; white gaps, scaled up for viewing."""
    grid = make_grid(np.concatenate(rows), gap=GRID_GAP, columns=len(rows[0]))
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)


@torch.no_grad()
def sample_grid(g, path: Path, n: int = 8):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n * n // 2, g.z_dim, generator=gen)
    rows = []
    for psi in (1.0, 0.7):
        images = to_uint8_hwc(g.synthesis(g.mapping(z, truncation_psi=psi)))
        rows += [images[i * n:(i + 1) * n] for i in range(n // 2)]
    save_rows(rows, path)


def mixed_images(g, content: torch.Tensor, style: torch.Tensor, split: int) -> torch.Tensor:
    """Images of `content`'s coarse levels (W+ rows or resizer levels < split) with `style`'s fine ones."""
    if g.latent_kind == STYLEMAP:
        return g.synthesize_levels(style_mix_levels(g, content, style, split))
    return g.synthesis(style_mix(g, content, style, split))


@torch.no_grad()
def style_mixing_grid(g, path: Path, n: int = 6):
    """Top row: style sources (fine layers); left column: content sources (coarse layers);
    cell (i, j): coarse layers of content i with the rest from style j."""
    gen = torch.Generator().manual_seed(1)
    w_content = g.mapping(torch.randn(n, g.z_dim, generator=gen), truncation_psi=0.8)
    w_style = g.mapping(torch.randn(n, g.z_dim, generator=gen), truncation_psi=0.8)
    blank = np.full((1, g.resolution, g.resolution, 3), 255, np.uint8)
    rows = [np.concatenate([blank, to_uint8_hwc(g.synthesis(w_style))])]
    content_images = to_uint8_hwc(g.synthesis(w_content))
    for i in range(n):
        content = w_content[i:i + 1].expand(n, *w_content.shape[1:])
        mixed = mixed_images(g, content, w_style, g.num_levels // 2)
        rows.append(np.concatenate([content_images[i:i + 1], to_uint8_hwc(mixed)]))
    save_rows(rows, path)


LOCAL_EDIT_PARTS = (("hair", "hat"), ("eyes", "brows", "glasses"), ("mouth", "beard"), ("clothes",))


@torch.no_grad()
def local_edit_grid(model: Model, path: Path, n: int = 8):
    """A stylemap model's local edits of held-out renders: row 1 the originals A, row 2 the references
    B; then, per part group, A's stylemap with B's on that part's cells (the served Local blend,
    mix space "w", its mask the part's coverage in B)."""
    g, encode = model.generator, model.regressor
    seeds = heldout_seeds(2 * n, offset=7000)
    renders = [render_portrait(seed, g.resolution) for seed in seeds]
    images = torch.from_numpy(np.stack([rgb for rgb, _ in renders])).permute(0, 3, 1, 2).float() / 127.5 - 1
    latents = encode(images)
    a, b = latents[:n], latents[n:]
    rows = [to_uint8_hwc(images[:n]), to_uint8_hwc(images[n:])]
    for parts in LOCAL_EDIT_PARTS:
        masks = []
        for _, params in renders[n:]:
            cover = part_masks(params, g.resolution)
            masks.append(sum(cover[p].astype(np.float32) for p in parts) / 255.0)
        mask = torch.from_numpy(np.stack(masks)).float()[:, None].clamp(0, 1)
        _, blended = stylemap_blend(g, a, b, mask)
        rows.append(to_uint8_hwc(blended))
    save_rows(rows, path)


def heldout_images(count: int, resolution: int) -> torch.Tensor:
    rgb = render_batch(heldout_seeds(count), size=resolution)
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1


def per_image_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[list, list]:
    psnr = [masked_psnr(pred[i:i + 1], target[i:i + 1], mask[i:i + 1]) for i in range(len(pred))]
    ssim = [masked_ssim(pred[i:i + 1], target[i:i + 1], mask[i:i + 1]) for i in range(len(pred))]
    return psnr, ssim


def reconstruct(model: Model, images, masks, options: ProjectOptions, batch: int) -> torch.Tensor:
    return torch.cat([project(model, images[i:i + batch], masks[i:i + batch], options).image
                      for i in range(0, len(images), batch)])


def reconstruction_study(model: Model, count: int, opt_steps: int, batch: int, log) -> tuple[dict, list]:
    """Figures per (method, visible fraction), and example rows for the PNG."""
    g = model.generator
    images = heldout_images(count, g.resolution)
    space = "stylemap" if g.latent_kind == STYLEMAP else "W+"
    methods = {"regressor": ProjectOptions(method="regressor"),
               f"optimize {space} {opt_steps} steps": ProjectOptions(method="optimize", space="w+", init="w_avg",
                                                                     steps=opt_steps)}
    figures, examples = {}, []
    for fraction in FRACTIONS:
        masks = masks_with_fraction(count, g.resolution, fraction, torch.Generator().manual_seed(7))
        examples += [to_uint8_hwc(images[:8]), to_uint8_hwc(images[:8] * masks[:8] + (1 - masks[:8]) * 0.6)]
        for name, options in methods.items():
            t0 = time.perf_counter()
            recon = reconstruct(model, images, masks, options, batch)
            psnr, ssim = per_image_metrics(recon, images, masks)
            key = f"{name} | {round(fraction * 100)}% visible"
            figures[key] = {"masked_psnr": statistics.mean(psnr), "masked_psnr_sd": statistics.stdev(psnr),
                            "masked_ssim": statistics.mean(ssim), "masked_ssim_sd": statistics.stdev(ssim),
                            "images": count, "seconds": time.perf_counter() - t0}
            examples.append(to_uint8_hwc(recon[:8]))
            log(f"{key}: PSNR {figures[key]['masked_psnr']:.2f} dB, SSIM {figures[key]['masked_ssim']:.3f}")
    return figures, examples


def collage_study(model: Model, count: int, hybrid_steps: int) -> tuple[dict, list]:
    g = model.generator
    targets = [compose(collage_canvas(seeds, g.resolution), g.resolution) for seeds in collage_seed_sets(count)]
    images = torch.cat([t.image for t in targets])
    masks = torch.cat([t.mask for t in targets])
    rows, figures = [to_uint8_hwc(images)], {}
    for name, options in (("regressor", ProjectOptions(method="regressor")),
                          (f"hybrid {hybrid_steps} steps", ProjectOptions(method="hybrid", steps=hybrid_steps))):
        recon = reconstruct(model, images, masks, options, len(images))
        psnr, ssim = per_image_metrics(recon, images, masks)
        figures[name] = {"masked_psnr": statistics.mean(psnr), "masked_ssim": statistics.mean(ssim),
                         "images": count}
        rows.append(to_uint8_hwc(recon))
    return figures, rows


def results_markdown(card: dict, figures: dict, command: str) -> str:
    lines = [f"Generated by `{command}` for model `{card.get('name')}`.", "",
             "| method | visible | masked PSNR (dB) | masked SSIM | images |", "|---|---|---|---|---|"]
    for key, f in figures["reconstruction"].items():
        method, visible = key.split(" | ")
        lines.append(f"| {method} | {visible} | {f['masked_psnr']:.2f} ± {f['masked_psnr_sd']:.2f} | "
                     f"{f['masked_ssim']:.3f} ± {f['masked_ssim_sd']:.3f} | {f['images']} |")
    lines += ["", "Collages (agreement with the pasted pieces, all pixels known):", "",
              "| method | masked PSNR (dB) | masked SSIM | collages |", "|---|---|---|---|"]
    for name, f in figures["collages"].items():
        lines.append(f"| {name} | {f['masked_psnr']:.2f} | {f['masked_ssim']:.3f} | {f['images']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", type=Path, default=Path("docs/model-card"))
    ap.add_argument("--images", type=int, default=200, help="held-out images per mask level")
    ap.add_argument("--opt-steps", type=int, default=500)
    ap.add_argument("--collages", type=int, default=8)
    ap.add_argument("--hybrid-steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=50, help="targets optimised together")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model)
    g = model.generator
    sample_grid(g, args.out / "samples.png")
    style_mixing_grid(g, args.out / "style_mixing.png")
    if g.latent_kind == STYLEMAP:
        local_edit_grid(model, args.out / "local_edits.png")
    recon, examples = reconstruction_study(model, args.images, args.opt_steps, args.batch,
                                           lambda line: print(line, flush=True))
    save_rows(examples, args.out / "reconstructions.png")
    collages, rows = collage_study(model, args.collages, args.hybrid_steps)
    save_rows(rows, args.out / "collages.png")
    figures = {"reconstruction": recon, "collages": collages}
    command = "python -m server.training.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "metrics.json").write_text(json.dumps({"command": command, "model": model.card.get("name"),
                                                       **figures}, indent=2))
    (args.out / "results.md").write_text(results_markdown(model.card, figures, command))
    print(results_markdown(model.card, figures, command))


if __name__ == "__main__":
    main()
