"""Supervised attribute directions for the embedded model (InterFaceGAN-style linear boundaries).

    python -m server.training.directions --out server/models/embedded/directions.safetensors \
        --card docs/model-card

The renderer knows every part of a portrait, so each attribute gets a binary label from
`sample_params(seed)`. Renders from a training-range seed block the GAN never saw (the GAN drew
`TRAIN_SEEDS[:50000]`) are projected by the model's regressor (one pass, full mask) to W+; a
class-balanced, L2-regularised logistic regression on the mean W+ row separates each label, and its
normal (positive = more of the attribute) is the direction. The regularisation is chosen per
attribute on a seeded validation split of the training renders; accuracy is measured on held-out
renders (`heldout_seeds`, never used for fitting), projected the same way.

The regressor's latents hardly encode mouths, glasses or beards, so those attributes take
InterFaceGAN's original route instead ("generator" route): a small CNN on a crop of the lower face
and eyes learns them from the training renders (blurred, as the generator's images are softer),
labels seeded generator samples, and a logistic regression in W on those labels gives the normal.
Conditional editing then projects out of it the latent-route colour directions (`CONDITIONS`) and
the generator's own colour subspace (`colour_subspace`), so that the edit drags skin, hair and
background colour along as little as possible. Its figures: the CNN's balanced
accuracy on held-out renders, and the fraction of held-out projections without the attribute that
the CNN labels positive before and after a +2 sigma edit.

Writes the directions with `save_directions`, one grid PNG per direction and `direction_rows.png`
(the evidence behind the default rows) into --card, and prints the card's table.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from server.engine.pixels import to_uint8_hwc
from server.models import load_model
from server.models.directions import Direction, save_directions, unit_direction, w_samples
from server.training.collages import heldout_seeds
from server.training.direction_attributes import (
    ATTRIBUTES,
    COARSE,
    CONDITIONS,
    GENERATOR,
    LATENT,
    Attribute,
    labels,
    regressed_latents,
    to_model_images,
)
from server.training.direction_boundaries import balanced_accuracy, balanced_hits, fit_direction, latent_features
from server.training.direction_classifier import (
    EDIT_STRENGTH,
    GENERATOR_SAMPLES,
    PixelClassifier,
    colour_subspace,
    conditioned,
    edit_positive_rates,
    label_matrix,
    labelled_generator_samples,
    pixel_positive,
    train_pixel_classifier,
)
from server.training.evaluate import save_rows
from server.training.portrait_params import PortraitParams, sample_params
from server.training.portraits import TRAIN_SEEDS, render_batch

GAN_TRAINING_SEEDS = 50_000  # the GAN's dataset is TRAIN_SEEDS[:50000]; fit on the block after it
STRENGTHS = (-3, -2, -1, 0, 1, 2, 3)
GRID_ROWS = 3  # held-out portraits without the attribute, then as many with it
EDIT_EXAMPLES = 200  # held-out projections without the attribute it is measured on


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
    """The attribute's latent-route direction fitted on `train` = (mean-row latents, params), scored
    on `test`."""
    idx, y = labels(attribute, train[1])
    boundary = fit_direction(train[0][idx], torch.from_numpy(y))
    test_idx, test_y = labels(attribute, test[1])
    accuracy = balanced_accuracy(boundary, test[0][test_idx], torch.from_numpy(test_y))
    return unit_direction(attribute.name, "supervised", boundary.normal, samples, num_ws, attribute.description,
                          rows=attribute.rows, route=LATENT, accuracy=round(accuracy, 4), heldout=len(test_idx),
                          train=len(idx), l2=boundary.l2)


@dataclass
class GeneratorRoute:
    """What every generator-route direction shares: the classifier (head j is `attributes[j]`), its
    thresholded labels of the held-out renders, the labelled generator samples, and the conditions."""
    attributes: list[Attribute]
    net: PixelClassifier
    trained_on: torch.Tensor  # [heads]: labelled training renders per head
    heldout_positive: torch.Tensor  # [held-out renders, heads] bool
    ws: torch.Tensor
    sample_labels: torch.Tensor  # [samples, heads] bool
    conditions: list[torch.Tensor]  # the latent-route colour directions and the `colour_subspace`


def generator_route(g, train: tuple, test_rgb: np.ndarray, conditions: list[Direction],
                    count: int) -> GeneratorRoute:
    """Trains the pixel classifier on `train` = (renders, params) and labels `count` generator samples."""
    attributes = [a for a in ATTRIBUTES if a.route == GENERATOR]
    y = label_matrix(attributes, train[1])
    net = train_pixel_classifier(to_model_images(train[0]), y)
    ws, sample_labels, colours = labelled_generator_samples(g, net, count)
    return GeneratorRoute(attributes, net, (y >= 0).sum(0), pixel_positive(net, to_model_images(test_rgb)), ws,
                          sample_labels, [d.mean_row for d in conditions] + list(colour_subspace(ws, colours)))


def generator_direction(route: GeneratorRoute, head: int, test: tuple, samples: torch.Tensor, g) -> Direction:
    """Head `head`'s direction: a logistic regression in W on the labelled samples, conditioned; scored
    on `test` = (held-out W+ projections, params)."""
    attribute = route.attributes[head]
    boundary = fit_direction(route.ws, route.sample_labels[:, head].float())
    idx, y = labels(attribute, test[1])
    accuracy = balanced_hits(route.heldout_positive[idx, head], torch.from_numpy(y))
    direction = unit_direction(attribute.name, "supervised", conditioned(boundary.normal, route.conditions), samples,
                               g.num_ws, attribute.description, rows=attribute.rows, route=GENERATOR,
                               accuracy=round(accuracy, 4), heldout=len(idx), train=int(route.trained_on[head]),
                               samples=len(route.ws), l2=boundary.l2)
    without = torch.from_numpy(idx[y == 0][:EDIT_EXAMPLES])
    before, after = edit_positive_rates(g, route.net, head, direction, test[0][without])
    direction.extra.update(positive_before=round(before, 3), positive_after=round(after, 3))
    return direction


def card_table(directions: list[Direction]) -> str:
    """The model card's table, its verdict column left for whoever looks at the grids."""
    lines = ["| direction | route | held-out accuracy (balanced) | default rows | held-out renders | "
             f"labelled positive before / after +{EDIT_STRENGTH} sigma | verdict from the grid |",
             "|---|---|---|---|---|---|---|"]
    for d in directions:
        moved = (f"{d.extra['positive_before']:.2f} / {d.extra['positive_after']:.2f}"
                 if d.extra["route"] == GENERATOR else "")
        lines.append(f"| `{d.name}` | {d.extra['route']} | {d.extra['accuracy']:.3f} | "
                     f"{d.first_layer}-{d.last_layer - 1} | "
                     f"{d.extra['heldout']} | {moved} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("server/models/embedded/directions.safetensors"))
    ap.add_argument("--card", type=Path, default=Path("docs/model-card"), help="folder for the grid PNGs")
    ap.add_argument("--train", type=int, default=6000, help="labelled renders to fit on")
    ap.add_argument("--heldout", type=int, default=2000, help="held-out renders to score on")
    ap.add_argument("--samples", type=int, default=GENERATOR_SAMPLES, help="generator samples the CNN labels")
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
    train_rgb = render_batch(train_seeds, g.resolution, workers=args.workers)
    test_rgb = render_batch(test_seeds, g.resolution, workers=args.workers)
    train_x = latent_features(regressed_latents(model, train_rgb))
    test_latents = regressed_latents(model, test_rgb)
    test_x = latent_features(test_latents)
    print(f"rendered and projected {len(train_seeds)} + {len(test_seeds)} renders in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    samples = w_samples(g)
    found = {a.name: fitted_direction(a, (train_x, train_params), (test_x, test_params), samples, g.num_ws)
             for a in ATTRIBUTES if a.route == LATENT}
    route = generator_route(g, (train_rgb, train_params), test_rgb, [found[name] for name in CONDITIONS],
                            args.samples)
    print(f"pixel classifier and {len(route.ws)} labelled generator samples at {time.perf_counter() - t0:.0f} s",
          flush=True)
    for head, attribute in enumerate(route.attributes):
        found[attribute.name] = generator_direction(route, head, (test_latents, test_params), samples, g)
    directions = [found[a.name] for a in ATTRIBUTES]
    args.card.mkdir(parents=True, exist_ok=True)
    first_examples = []
    for attribute, direction in zip(ATTRIBUTES, directions):
        shown = grid_examples(attribute, test_params)
        first_examples.append(test_latents[shown[0]])
        edit_grid(g, direction, test_latents[shown], test_rgb[shown], args.card / f"direction_{attribute.name}.png")
        print(f"{attribute.name} ({direction.extra['route']} route): held-out balanced accuracy "
              f"{direction.extra['accuracy']:.3f} ({direction.extra['heldout']} renders), "
              f"l2 {direction.extra['l2']:g}, "
              f"sigma {direction.sigma:.3f}", flush=True)
    row_split_grid(g, list(zip(directions, first_examples)), args.card / "direction_rows.png")
    save_directions(args.out, directions)
    command = "python -m server.training.directions " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\nwrote {args.out} in {time.perf_counter() - t0:.0f} s ({command})\n\n{card_table(directions)}")


if __name__ == "__main__":
    main()
