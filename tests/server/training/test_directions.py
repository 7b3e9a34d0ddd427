"""The embedded model's supervised directions (server/training/directions.py and the
direction_*.py modules it builds on): the shipped file, its figures in the model card, and the
fitting code (both routes) on planted data."""
from __future__ import annotations

import json
import math

import pytest
import torch

from server.models import load_model
from server.models.directions import load_directions
from server.training.collages import heldout_seeds
from server.training.direction_attributes import ATTRIBUTES, CONDITIONS, GENERATOR, LATENT, labels, regressed_latents
from server.training.direction_boundaries import balanced_accuracy, balanced_hits, fit_direction, latent_features
from server.training.direction_classifier import CROP, conditioned, label_matrix, pixel_positive, train_pixel_classifier
from server.training.portrait_params import sample_params
from server.training.portraits import render_batch
from tests.support.paths import REPO

EMBEDDED = REPO / "server" / "models" / "embedded"
NAMES = ("smile", "mouth_open", "glasses", "hat", "facial_hair", "hair_light", "long_hair", "skin_dark",
         "background_light")
RELIABLE = 0.8  # held-out accuracy from which a direction's sign and separation are checked on fresh renders
ROUTES = {a.name: a.route for a in ATTRIBUTES}
EDIT_GAIN_FLOORS = {"smile": 0.15, "mouth_open": 0.15, "facial_hair": 0.02}  # generator route: the shipped
# fit's positive_after - positive_before (0.255, 0.28, 0.04), less a margin


@pytest.fixture(scope="module")
def shipped():
    return {d.name: d for d in load_directions(EMBEDDED / "directions.safetensors")}


@pytest.fixture(scope="module")
def card():
    return json.loads((EMBEDDED / "model.json").read_text())


def test_the_shipped_file_holds_the_nine_directions(shipped, card):
    assert tuple(shipped) == NAMES
    for d in shipped.values():
        assert d.kind == "supervised" and d.description
        assert d.vector.shape == (card["w_dim"],) and torch.isfinite(d.vector).all()
        assert math.isclose(float(d.vector.norm()), 1.0, rel_tol=1e-5)
        assert math.isfinite(d.sigma) and d.sigma > 0
        assert 0 <= d.first_layer < d.last_layer <= card["num_ws"]
    assert (EMBEDDED / "directions.safetensors").stat().st_size < 64_000


def test_every_direction_records_its_held_out_accuracy(shipped):
    for d in shipped.values():
        assert d.extra["route"] == ROUTES[d.name]
        assert 0.0 <= d.extra["accuracy"] <= 1.0 and d.extra["heldout"] >= 1000 and d.extra["train"] >= 3000
    # the figures of the shipped fit (docs/model-card.md; the lowest, smile's, 0.832) less a margin.
    # Latent route: the accuracy of the classifier on regressor latents; generator route: of the
    # pixel classifier on renders
    assert all(d.extra["accuracy"] >= RELIABLE for d in shipped.values())


def test_generator_route_edits_move_the_pixel_classifier(shipped):
    """The recorded effect of a +2 sigma edit on held-out projections without the attribute (the
    shipped fit's figures less a margin); glasses barely move (docs/model-card.md)."""
    for name, gain in EDIT_GAIN_FLOORS.items():
        d = shipped[name]
        assert d.extra["samples"] >= 5000
        assert d.extra["positive_after"] - d.extra["positive_before"] >= gain, name


def test_generator_route_directions_leave_the_colour_directions_alone(shipped):
    """Conditional editing: no component along the shipped skin, hair and background directions."""
    for name in (n for n in NAMES if ROUTES[n] == GENERATOR):
        for condition in CONDITIONS:
            assert abs(float(shipped[name].vector @ shipped[condition].vector)) < 1e-5, (name, condition)


def test_the_card_quotes_the_shipped_figures(shipped):
    text = (REPO / "docs" / "model-card.md").read_text()
    for d in shipped.values():
        row = f"| `{d.name}` | {d.extra['route']} | {d.extra['accuracy']:.3f} | {d.first_layer}-{d.last_layer - 1} |"
        assert row in text, f"model card row for {d.name} missing or stale: {row}"
        if d.extra["route"] == GENERATOR:
            moved = f"| {d.extra['positive_before']:.2f} / {d.extra['positive_after']:.2f} |"
            assert moved in text.split(row)[1].splitlines()[0], f"edit figures for {d.name} missing or stale"
        assert (REPO / "docs" / "model-card" / f"direction_{d.name}.png").is_file()


def _auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Probability that a positive scores above a negative."""
    pos, neg = scores[y > 0], scores[y <= 0]
    return float((pos[:, None] > neg[None]).double().mean())


def test_reliable_directions_separate_fresh_held_out_renders(shipped):
    """Renders the fit never scored (held-out seeds after the first 2000), projected by the regressor:
    along each reliable latent-route direction, portraits with the attribute lie further than those without."""
    torch.set_num_threads(2)
    seeds = heldout_seeds(300, offset=3000)
    x = latent_features(regressed_latents(load_model("default"), render_batch(seeds, 64)))
    params = [sample_params(s) for s in seeds]
    for attribute in ATTRIBUTES:
        d = shipped[attribute.name]
        if attribute.route != LATENT or d.extra["accuracy"] < RELIABLE:
            continue
        idx, y = labels(attribute, params)
        assert _auc(x[idx] @ d.vector, torch.from_numpy(y)) >= 0.85, attribute.name


def test_conditioning_removes_exactly_the_conditions():
    gen = torch.Generator().manual_seed(0)
    normal, a, b = torch.randn(3, 16, generator=gen)
    out = conditioned(normal, [a, b])
    assert abs(float(out @ a.double())) < 1e-9 and abs(float(out @ b.double())) < 1e-9
    free = conditioned(out, [a, b])  # already orthogonal: unchanged
    assert torch.allclose(free, out, atol=1e-12)


def test_labels_leave_ambiguous_portraits_out():
    params = [sample_params(s) for s in range(50_000, 50_200)]
    table = label_matrix(list(ATTRIBUTES), params)
    smile = [a.name for a in ATTRIBUTES].index("smile")
    for row, p in zip(table, params):
        assert row[smile] == {"smile": 1.0, "closed": 0.0}.get(p.mouth, -1.0)


def test_the_pixel_classifier_learns_a_small_mark_in_its_crop():
    """A 3x2 px dark mark where mouths are, on noisy grey images: learnt from 512 images; a mark
    outside the crop (a corner) is invisible to it."""
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    images = 0.2 * torch.randn(768, 3, 64, 64, generator=gen)
    y = (torch.rand(768, 2, generator=gen) < 0.3).float()
    images[y[:, 0] > 0, :, 43:45, 30:33] -= 1.0
    images[y[:, 1] > 0, :, 2:6, 2:6] -= 1.0
    assert CROP[0].start <= 43 < 45 <= CROP[0].stop and CROP[1].start <= 30 < 33 <= CROP[1].stop
    net = train_pixel_classifier(images[:512], y[:512], epochs=3)
    found = pixel_positive(net, images[512:])
    assert balanced_hits(found[:, 0], y[512:, 0]) > 0.9
    assert balanced_hits(found[:, 1], y[512:, 1]) < 0.65


@pytest.mark.parametrize("prevalence_shift", [0.0, 1.5])
def test_fitting_recovers_a_planted_direction(prevalence_shift):
    """Anisotropic Gaussian latents, labels from a logistic model along a planted normal (shifted so
    that as few as ~10% are positive): the fitted normal points along the planted one."""
    gen = torch.Generator().manual_seed(3)
    dim, count = 24, 3000
    scales = torch.linspace(0.3, 2.0, dim)
    x = torch.randn(count, dim, generator=gen) * scales + 0.5
    planted = torch.randn(dim, generator=gen)
    planted /= planted.norm()
    logits = 6 * ((x - 0.5) @ planted - prevalence_shift)
    y = (torch.rand(count, generator=gen) < torch.sigmoid(logits)).float()
    boundary = fit_direction(x, y)
    cosine = float(boundary.normal.float() @ planted / boundary.normal.norm())
    assert cosine > 0.95
    assert balanced_accuracy(boundary, x, y) > 0.85
    assert float(fit_direction(x, 1 - y).normal.float() @ planted) < 0  # the sign follows the label
