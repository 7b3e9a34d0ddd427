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

LATENT, GENERATOR = "latent", "generator"  # the two routes (module docstring)

GAN_TRAINING_SEEDS = 50_000  # the GAN's dataset is TRAIN_SEEDS[:50000]; fit on the block after it
L2_CHOICES = (1e-4, 1e-3, 1e-2, 1e-1)
VALIDATION_FRACTION = 0.2
STRENGTHS = (-3, -2, -1, 0, 1, 2, 3)
GRID_ROWS = 3  # held-out portraits without the attribute, then as many with it
# Default rows, from each direction applied to rows 0-3 and 4-9 (direction_rows.png): hats, hair and
# skin move only with rows 0-3 (the 4 and 8 px layers), the background with rows 4-9. The generator-
# route directions keep every row: on rows 4-9 alone mouths and beards no longer change.
ALL = None  # every row
COARSE = (0, 4)
MIDDLE_AND_FINE = (4, 10)  # the embedded model has 10 rows


def _luma(rgb) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _darkness(rgb) -> float:
    return 255 - _luma(rgb)


def _between(value: float, low: float, high: float) -> bool | None:
    """True above `high`, False below `low`, None (dropped: ambiguous) in between."""
    return True if value > high else False if value < low else None


@dataclass(frozen=True)
class Attribute:
    name: str
    label: Callable[[PortraitParams], bool | None]  # None: left out of fitting and scoring
    description: str
    rows: tuple[int, int] | None  # default W+ rows [first, last): chosen from the grids (docs/model-card.md)
    route: str = LATENT


ATTRIBUTES = (
    Attribute("smile", lambda p: {"smile": True, "closed": False}.get(p.mouth),
              "smiling vs closed mouth (open mouths left out)", ALL, GENERATOR),
    Attribute("mouth_open", lambda p: p.mouth in ("open_teeth", "open_dark"),
              "open mouth (teeth or dark) vs closed or smiling", ALL, GENERATOR),
    Attribute("glasses", lambda p: p.glasses != "none", "glasses vs none", ALL, GENERATOR),
    Attribute("hat", lambda p: p.hat != "none", "a beanie, cap or brimmed hat vs none", COARSE),
    Attribute("facial_hair", lambda p: None if p.facial_hair == "stubble" else p.facial_hair != "none",
              "beard, moustache or goatee vs none (stubble left out)", ALL, GENERATOR),
    Attribute("hair_light", lambda p: None if p.hair_volume == 0 else
              {"blonde": True, "grey": True, "white": True, "black": False, "dark_brown": False
               }.get(p.hair_color_name),
              "blonde, grey or white hair vs black or dark brown (brown, red, dyed, bald left out)", COARSE),
    Attribute("long_hair", lambda p: None if p.hair_style == "bob" else p.hair_style == "long",
              "long hair vs short, buzz, fringe, curly, bun or bald (bobs left out)", COARSE),
    Attribute("skin_dark", lambda p: _between(_darkness(p.skin), 255 - 170, 255 - 130),
              "skin luma below 130 vs above 170 (of 255)", COARSE),
    Attribute("background_light", lambda p: _between(_luma(p.bg_color) + _luma(p.bg_color2), 2 * 140, 2 * 170),
              "mean background luma above 170 vs below 140 (of 255)", MIDDLE_AND_FINE),
)
CONDITIONS = ("skin_dark", "hair_light", "background_light")  # projected out of generator-route directions
GENERATOR_SAMPLES = 6000
SAMPLE_SEED = 1  # the generator samples the CNN labels (seed 0 draws the sigma samples)
EDIT_STRENGTH = 2  # sigma, for the generator route's edit figure
EDIT_EXAMPLES = 200  # held-out projections without the attribute it is measured on
COLOUR_SUBSPACE = 16  # dimensions of the generator's colour subspace projected out as well
COLOUR_BLOCKS = 8  # the colour targets: an 8x8 grid of block means...
LOWER_FACE = (slice(4, 7), slice(2, 6))  # ...less the blocks of mouths and beards


# ----------------------------------------------------------------------------------------- data


def to_model_images(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [N, R, R, 3] -> float [N, 3, R, R] in [-1, 1]."""
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def regressed_latents(model: Model, rgb: np.ndarray, batch: int = 250) -> torch.Tensor:
    """[N, num_ws, w_dim]: the regressor's W+ for each render, full mask (the 'regressor'
    projection method's one forward pass)."""
    size = model.generator.resolution
    latents = []
    for start in range(0, len(rgb), batch):
        images = to_model_images(rgb[start:start + batch])
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


def balanced_hits(predicted: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of the per-class recalls of 0/1 `predicted`: 0.5 is chance whatever the class balance."""
    hit = predicted.bool() == (y > 0)
    return float((hit[y > 0].double().mean() + hit[y <= 0].double().mean()) / 2)


def balanced_accuracy(boundary: Boundary, x: torch.Tensor, y: torch.Tensor) -> float:
    return balanced_hits(boundary.predict(x), y)


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


# --------------------------------------------------------------------- the generator route


CROP = (slice(22, 54), slice(16, 48))  # rows, columns of a 64 px portrait: eyes down to the chin
CNN_EPOCHS = 8
CNN_BATCH = 64


class PixelClassifier(torch.nn.Module):
    """One logit per generator-route attribute from the `CROP` of a [-1, 1] image. Mouths are a few
    pixels wide at 64 px: on the whole image with global pooling they drown (chance for smiles), on
    the crop with a flattened 4x4 map the classifier keeps where things are."""

    def __init__(self, outputs: int):
        super().__init__()

        def conv(i, o):
            return [torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]

        pool = torch.nn.MaxPool2d(2)
        self.net = torch.nn.Sequential(*conv(3, 24), *conv(24, 32), pool, *conv(32, 48), pool, *conv(48, 64), pool,
                                       torch.nn.Flatten(), torch.nn.Dropout(0.3), torch.nn.Linear(64 * 4 * 4, 64),
                                       torch.nn.ReLU(), torch.nn.Linear(64, outputs))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images[:, :, CROP[0], CROP[1]])


def blurred(images: torch.Tensor, gen: torch.Generator, max_sigma: float = 1.2) -> torch.Tensor:
    """Each image Gaussian-blurred with its own sigma in U(0, max_sigma), plus a little noise: renders
    are crisper than the generator's images, and the classifier has to label the latter."""
    n, channels = images.shape[:2]
    sigma = (torch.rand(n, generator=gen) * max_sigma).clamp_min(1e-3)
    taps = torch.arange(-2, 3, dtype=images.dtype)
    kernel = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)
    x = images.reshape(1, n * channels, *images.shape[2:])
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 0, 0), mode="replicate"),
                                   kernel[:, None, None, :], groups=n * channels)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 0, 2, 2), mode="replicate"),
                                   kernel[:, None, :, None], groups=n * channels)
    return x.reshape(images.shape) + 0.03 * torch.randn(images.shape, generator=gen)


def label_matrix(attributes: list[Attribute], params: list[PortraitParams]) -> torch.Tensor:
    """[N, len(attributes)]: 1 / 0 labels, -1 where an attribute leaves the portrait out."""
    table = torch.full((len(params), len(attributes)), -1.0)
    for j, attribute in enumerate(attributes):
        idx, y = labels(attribute, params)
        table[idx, j] = torch.from_numpy(y)
    return table


def train_pixel_classifier(images: torch.Tensor, y: torch.Tensor, epochs: int = CNN_EPOCHS,
                           seed: int = 0) -> PixelClassifier:
    """Adam on the masked, class-balanced (pos_weight) binary cross-entropy of every head, on
    blurred `images`; seeded, so a rerun gives the same classifier."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PixelClassifier(y.shape[1])
    optimiser = torch.optim.Adam(net.parameters(), 2e-3)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, 0.7)
    known = (y >= 0).float()
    pos_weight = ((y == 0).sum(0) / (y == 1).sum(0).clamp_min(1)).float()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images), CNN_BATCH):
            i = order[start:start + CNN_BATCH]
            losses = torch.nn.functional.binary_cross_entropy_with_logits(
                net(blurred(images[i], gen)), y[i].clamp_min(0), reduction="none", pos_weight=pos_weight)
            loss = (losses * known[i]).sum() / known[i].sum().clamp_min(1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()
    return net.eval()


@torch.no_grad()
def pixel_positive(net: PixelClassifier, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """[N, heads] bool: the classifier's thresholded labels (probability above 0.5)."""
    return torch.cat([net(images[s:s + batch]) > 0 for s in range(0, len(images), batch)])


def block_colours(images: torch.Tensor) -> torch.Tensor:
    """[N, 3 * blocks]: the mean colour of each `COLOUR_BLOCKS` x `COLOUR_BLOCKS` block outside
    `LOWER_FACE`: skin, hair, hat, clothes and background, not the parts the route edits."""
    means = torch.nn.functional.adaptive_avg_pool2d(images, COLOUR_BLOCKS)
    keep = torch.ones(COLOUR_BLOCKS, COLOUR_BLOCKS, dtype=torch.bool)
    keep[LOWER_FACE] = False
    return means[:, :, keep].flatten(1)


@torch.no_grad()
def labelled_generator_samples(g, net: PixelClassifier, count: int = GENERATOR_SAMPLES, seed: int = SAMPLE_SEED,
                               batch: int = 250) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(seeded W samples [count, w_dim], the classifier's labels of their images [count, heads],
    their `block_colours`)."""
    ws = torch.cat([w.float().cpu() for w in g.sample_w(count, seed)])
    found, colours = [], []
    for s in range(0, count, batch):
        images = g.synthesis(ws[s:s + batch, None].repeat(1, g.num_ws, 1), noise_mode="const")
        found.append(pixel_positive(net, images))
        colours.append(block_colours(images))
    return ws, torch.cat(found), torch.cat(colours)


def colour_subspace(ws: torch.Tensor, colours: torch.Tensor, count: int = COLOUR_SUBSPACE,
                    ridge: float = 0.1) -> torch.Tensor:
    """[count, w_dim]: the W directions that move `colours` most. A ridge regression maps W to the
    colours; its leading left singular vectors span the colour edits. The latent-route colour
    directions alone are not enough: they come from regressor latents, and along them the generator's
    own colour axes still differ (the mouth and beard edits then recolour skin and hair)."""
    x = ws.double() - ws.double().mean(0)
    y = colours.double() - colours.double().mean(0)
    weights = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)
    left, _, _ = torch.linalg.svd(weights, full_matrices=False)
    return left[:, :count].T.float()


def conditioned(normal: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
    """`normal` less its projection on the span of `conditions` (InterFaceGAN's conditional
    editing): moving along it leaves the conditions' scores unchanged."""
    basis, _ = torch.linalg.qr(torch.stack([c.double() for c in conditions], 1))
    normal = normal.double()
    return normal - basis @ (basis.T @ normal)


@torch.no_grad()
def edit_positive_rates(g, net: PixelClassifier, head: int, direction: Direction, latents: torch.Tensor,
                        strength: float = EDIT_STRENGTH) -> tuple[float, float]:
    """Fractions of `latents` [N, num_ws, w_dim] the classifier labels positive before and after an
    edit of `strength` sigma on the direction's default rows."""
    edited = latents.clone()
    edited[:, direction.first_layer:direction.last_layer] += strength * direction.sigma * direction.mean_row
    rates = [pixel_positive(net, g.synthesis(x, noise_mode="const"))[:, head].double().mean()
             for x in (latents, edited)]
    return float(rates[0]), float(rates[1])


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
