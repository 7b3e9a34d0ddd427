"""Supervised attribute directions for the embedded model (InterFaceGAN-style linear boundaries).

    python -m server.training.directions --out server/models/embedded/directions.safetensors \
        --card docs/model-card

The renderer knows every part of a portrait, so each attribute gets a binary label from
`sample_params(seed)`. Renders from a training-range seed block the GAN never saw (the GAN drew
`TRAIN_SEEDS[:50000]`) are projected by the model's regressor (one pass, full mask) to W+; a
class-balanced, L2-regularised logistic regression on the mean W+ row separates each label, and its
normal (positive = more of the attribute) is the direction. The regularisation is chosen per
attribute on a seeded validation split of the training renders; accuracy is measured on held-out
renders (`heldout_seeds`, never used for fitting), projected the same way. Writes the directions
with `save_directions`, one grid PNG per direction into --card, and prints the card's table.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from server.engine.pixels import to_uint8_hwc
from server.models import Model, load_model
from server.models.directions import Direction, save_directions, unit_direction, w_samples
from server.training.collages import heldout_seeds
from server.training.evaluate import save_rows
from server.training.portrait_params import PortraitParams, sample_params
from server.training.portraits import TRAIN_SEEDS, render_batch

GAN_TRAINING_SEEDS = 50_000  # the GAN's dataset is TRAIN_SEEDS[:50000]; fit on the block after it
L2_CHOICES = (1e-4, 1e-3, 1e-2, 1e-1)
VALIDATION_FRACTION = 0.2
STRENGTHS = (-3, -2, -1, 0, 1, 2, 3)
GRID_ROWS = 3  # held-out portraits without the attribute, then as many with it
# Default rows, from grids of each direction applied to rows 0-3, 4-6, 7-9 and all: parts and their
# colours (hats, hair, skin) move only with rows 0-3 (the 4 and 8 px layers); rows 0-3 also recolour
# hair when moved along the background direction, rows 4-9 change the background alone.
ALL = None  # every row
COARSE = (0, 4)
MIDDLE_AND_FINE = (4, 10)  # the embedded model has 10 rows


def _luma(rgb) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _between(value: float, low: float, high: float) -> bool | None:
    """True above `high`, False below `low`, None (dropped: ambiguous) in between."""
    return True if value > high else False if value < low else None


@dataclass(frozen=True)
class Attribute:
    name: str
    label: Callable[[PortraitParams], bool | None]  # None: left out of fitting and scoring
    description: str
    rows: tuple[int, int] | None  # default W+ rows [first, last): chosen from the grids (docs/model-card.md)


ATTRIBUTES = (
    Attribute("smile", lambda p: {"smile": True, "closed": False}.get(p.mouth),
              "smiling vs closed mouth (open mouths left out)", ALL),
    Attribute("mouth_open", lambda p: p.mouth in ("open_teeth", "open_dark"),
              "open mouth (teeth or dark) vs closed or smiling", ALL),
    Attribute("glasses", lambda p: p.glasses != "none", "glasses vs none", ALL),
    Attribute("hat", lambda p: p.hat != "none", "a beanie, cap or brimmed hat vs none", COARSE),
    Attribute("facial_hair", lambda p: None if p.facial_hair == "stubble" else p.facial_hair != "none",
              "beard, moustache or goatee vs none (stubble left out)", ALL),
    Attribute("hair_light", lambda p: None if p.hair_volume == 0 else
              {"blonde": True, "grey": True, "white": True, "black": False, "dark_brown": False
               }.get(p.hair_color_name),
              "blonde, grey or white hair vs black or dark brown (brown, red, dyed, bald left out)", COARSE),
    Attribute("long_hair", lambda p: None if p.hair_style == "bob" else p.hair_style == "long",
              "long hair vs short, buzz, fringe, curly, bun or bald (bobs left out)", COARSE),
    Attribute("skin_dark", lambda p: _between(255 - _luma(p.skin), 255 - 170, 255 - 130),
              "skin luma below 130 vs above 170 (of 255)", COARSE),
    Attribute("background_light", lambda p: _between(_luma(p.bg_color) + _luma(p.bg_color2), 2 * 140, 2 * 170),
              "mean background luma above 170 vs below 140 (of 255)", MIDDLE_AND_FINE),
)


# ----------------------------------------------------------------------------------------- data


@torch.no_grad()
def regressed_latents(model: Model, seeds: list[int], workers: int, batch: int = 250) -> torch.Tensor:
    """[N, num_ws, w_dim]: the regressor's W+ for each seed's render, full mask (the 'regressor'
    projection method's one forward pass)."""
    size = model.generator.resolution
    latents = []
    for start in range(0, len(seeds), batch):
        rgb = render_batch(seeds[start:start + batch], size=size, workers=workers)
        images = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1
        latents.append(model.regressor(images, torch.ones(len(images), 1, size, size)))
    return torch.cat(latents)


def labels(attribute: Attribute, params: list[PortraitParams]) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the labelled portraits, their 0/1 labels)."""
    found = [(i, attribute.label(p)) for i, p in enumerate(params)]
    kept = [(i, y) for i, y in found if y is not None]
    return np.array([i for i, _ in kept], int), np.array([float(y) for _, y in kept], np.float32)


# ------------------------------------------------------------------------------------- fitting


@dataclass
class Boundary:
    normal: torch.Tensor  # [dim]: the classifier's weight vector in latent coordinates
    bias: float  # offset of the boundary, for latents x: score = (x - centre) @ normal + bias
    centre: torch.Tensor
    l2: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.centre) @ self.normal + self.bias) > 0


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float) -> Boundary:
    """Class-balanced logistic regression with L2 weight penalty `l2`, by full-batch L-BFGS.

    Classes are weighted to equal total weight, so rare attributes (hats) get a boundary through
    the middle rather than one that calls everyone hatless. Deterministic: no random start.
    """
    x, y = x.double(), y.double()
    centre = x.mean(0)
    xc = x - centre
    positives = y.sum().clamp_min(1)
    weights = torch.where(y > 0, 0.5 / positives, 0.5 / (len(y) - positives).clamp_min(1))
    params = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], lr=1, max_iter=500, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        logits = xc @ params[:-1] + params[-1]
        value = (weights * torch.nn.functional.softplus(-(2 * y - 1) * logits)).sum()
        value = value + l2 * params[:-1].square().sum()
        value.backward()
        return value

    optimiser.step(loss)
    normal = params[:-1].detach()
    return Boundary(normal, float(params[-1].detach()), centre, l2)


def balanced_accuracy(boundary: Boundary, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of the per-class recalls: 0.5 is chance whatever the class balance."""
    hit = boundary.predict(x) == (y > 0)
    return float((hit[y > 0].double().mean() + hit[y <= 0].double().mean()) / 2)


def fit_direction(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> Boundary:
    """The boundary for the best `L2_CHOICES` on a seeded validation split, refitted on all of x."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held = order[:int(len(x) * VALIDATION_FRACTION)]
    fit = order[len(held):]
    scores = {l2: balanced_accuracy(fit_logistic(x[fit], y[fit], l2), x[held], y[held]) for l2 in L2_CHOICES}
    best = max(L2_CHOICES, key=lambda l2: (scores[l2], l2))  # ties: the stronger penalty
    return fit_logistic(x, y, best)


def latent_features(latents: torch.Tensor) -> torch.Tensor:
    """The mean W+ row: a direction in W, applicable to any row range, whose sigma means the same
    as GANSpace's and SeFa's. The mean row holds about 90% of the regressor's offset from w_avg.
    A classifier on the flattened W+ scores a little higher on held-out renders, but its per-row
    normals are about 3x longer than their mean: it separates the classes by differences between
    rows, which a generator's W never has, and moving along it recolours the whole portrait."""
    return latents.mean(1)


# --------------------------------------------------------------------------------------- grids


@torch.no_grad()
def edited_images(g, direction: Direction, latent: torch.Tensor, rows: tuple[int, int]) -> np.ndarray:
    """`latent` [num_ws, w_dim] moved by each of `STRENGTHS` sigma on `rows`, rendered: [7, R, R, 3]."""
    ws = latent[None].repeat(len(STRENGTHS), 1, 1)
    shift = torch.tensor(STRENGTHS, dtype=ws.dtype)[:, None] * direction.sigma * direction.mean_row
    ws[:, rows[0]:rows[1]] += shift[:, None]
    return to_uint8_hwc(g.synthesis(ws, noise_mode="const"))


def edit_grid(g, direction: Direction, latents: torch.Tensor, renders: np.ndarray, path: Path):
    """One row per portrait: the render, then its projection edited on the direction's default rows."""
    rows = (direction.first_layer, direction.last_layer)
    save_rows([np.concatenate([render[None], edited_images(g, direction, latent, rows)])
               for latent, render in zip(latents, renders)], path)


def row_split_grid(g, edits: list[tuple[Direction, torch.Tensor]], path: Path):
    """The evidence behind the default rows: per (direction, latent), the latent edited on the
    coarse rows, then on the rest."""
    split = COARSE[1]
    save_rows([edited_images(g, d, latent, rows) for d, latent in edits
               for rows in ((0, split), (split, g.num_ws))], path)


def grid_examples(attribute: Attribute, params: list[PortraitParams]) -> list[int]:
    """Indices of the first `GRID_ROWS` held-out portraits without the attribute, then with it."""
    idx, y = labels(attribute, params)
    return [int(i) for i in idx[y == 0][:GRID_ROWS]] + [int(i) for i in idx[y == 1][:GRID_ROWS]]


# ---------------------------------------------------------------------------------------- main


def fitted_direction(attribute: Attribute, train: tuple, test: tuple, samples: torch.Tensor,
                     num_ws: int) -> Direction:
    """The attribute's direction fitted on `train` = (mean-row latents, params), scored on `test`."""
    idx, y = labels(attribute, train[1])
    boundary = fit_direction(train[0][idx], torch.from_numpy(y))
    test_idx, test_y = labels(attribute, test[1])
    accuracy = balanced_accuracy(boundary, test[0][test_idx], torch.from_numpy(test_y))
    return unit_direction(attribute.name, "supervised", boundary.normal, samples, num_ws, attribute.description,
                          rows=attribute.rows, accuracy=round(accuracy, 4), heldout=len(test_idx), train=len(idx),
                          l2=boundary.l2)


def card_table(directions: list[Direction]) -> str:
    """The model card's table, its verdict column left for whoever looks at the grids."""
    lines = ["| direction | held-out accuracy (balanced) | default rows | held-out renders | verdict from the grid |",
             "|---|---|---|---|---|"]
    for d in directions:
        lines.append(f"| `{d.name}` | {d.extra['accuracy']:.3f} | {d.first_layer}-{d.last_layer - 1} | "
                     f"{d.extra['heldout']} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("server/models/embedded/directions.safetensors"))
    ap.add_argument("--card", type=Path, default=Path("docs/model-card"), help="folder for the grid PNGs")
    ap.add_argument("--train", type=int, default=6000, help="labelled renders to fit on")
    ap.add_argument("--heldout", type=int, default=2000, help="held-out renders to score on")
    ap.add_argument("--workers", type=int, default=2, help="render processes")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_model("default")
    g = model.generator
    train_seeds = list(TRAIN_SEEDS[GAN_TRAINING_SEEDS:GAN_TRAINING_SEEDS + args.train])
    test_seeds = heldout_seeds(args.heldout)
    train_params = [sample_params(s) for s in train_seeds]
    test_params = [sample_params(s) for s in test_seeds]
    train_x = latent_features(regressed_latents(model, train_seeds, args.workers))
    test_latents = regressed_latents(model, test_seeds, args.workers)
    test_x = latent_features(test_latents)
    print(f"projected {len(train_seeds)} + {len(test_seeds)} renders in {time.perf_counter() - t0:.0f} s", flush=True)
    samples = w_samples(g)
    args.card.mkdir(parents=True, exist_ok=True)
    directions, first_examples = [], []
    for attribute in ATTRIBUTES:
        direction = fitted_direction(attribute, (train_x, train_params), (test_x, test_params), samples, g.num_ws)
        directions.append(direction)
        shown = grid_examples(attribute, test_params)
        first_examples.append(test_latents[shown[0]])
        edit_grid(g, direction, test_latents[shown], render_batch([test_seeds[i] for i in shown], g.resolution),
                  args.card / f"direction_{attribute.name}.png")
        print(f"{attribute.name}: held-out balanced accuracy {direction.extra['accuracy']:.3f} "
              f"({direction.extra['heldout']} renders), l2 {direction.extra['l2']:g}, sigma {direction.sigma:.3f}",
              flush=True)
    row_split_grid(g, list(zip(directions, first_examples)), args.card / "direction_rows.png")
    save_directions(args.out, directions)
    command = "python -m server.training.directions " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\nwrote {args.out} in {time.perf_counter() - t0:.0f} s ({command})\n\n{card_table(directions)}")


if __name__ == "__main__":
    main()
