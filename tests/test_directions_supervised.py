"""The embedded model's supervised directions (server/training/directions.py): the shipped file,
its figures in the model card, and the fitting code on planted data."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from server.models import load_model
from server.models.directions import load_directions
from server.training.collages import heldout_seeds
from server.training.directions import (ATTRIBUTES, balanced_accuracy, fit_direction, labels, latent_features,
                                        regressed_latents)
from server.training.portrait_params import sample_params

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "server" / "models" / "embedded"
NAMES = ("smile", "mouth_open", "glasses", "hat", "facial_hair", "hair_light", "long_hair", "skin_dark",
         "background_light")
RELIABLE = 0.8  # held-out accuracy from which a direction's sign and separation are checked on fresh renders


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
        assert 0.0 <= d.extra["accuracy"] <= 1.0 and d.extra["heldout"] >= 1000 and d.extra["train"] >= 3000
    # the figures of the shipped fit (docs/model-card.md) less a margin: the mouth directions are at
    # chance because the regressor does not encode mouths; the rest must stay clearly above it
    reliable = [name for name, d in shipped.items() if d.extra["accuracy"] >= RELIABLE]
    assert set(reliable) == {"hat", "hair_light", "long_hair", "skin_dark", "background_light"}
    assert shipped["glasses"].extra["accuracy"] >= 0.55 and shipped["facial_hair"].extra["accuracy"] >= 0.58


def test_the_card_quotes_the_shipped_figures(shipped):
    text = (REPO / "docs" / "model-card.md").read_text()
    for d in shipped.values():
        row = f"| `{d.name}` | {d.extra['accuracy']:.3f} | {d.first_layer}-{d.last_layer - 1} |"
        assert row in text, f"model card row for {d.name} missing or stale: {row}"
        assert (REPO / "docs" / "model-card" / f"direction_{d.name}.png").is_file()


def _auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Probability that a positive scores above a negative."""
    pos, neg = scores[y > 0], scores[y <= 0]
    return float((pos[:, None] > neg[None]).double().mean())


def test_reliable_directions_separate_fresh_held_out_renders(shipped):
    """Renders the fit never scored (held-out seeds after the first 2000), projected by the regressor:
    along each reliable direction, portraits with the attribute lie further than those without."""
    torch.set_num_threads(2)
    seeds = heldout_seeds(300, offset=3000)
    x = latent_features(regressed_latents(load_model("default"), seeds, workers=1))
    params = [sample_params(s) for s in seeds]
    for attribute in ATTRIBUTES:
        d = shipped[attribute.name]
        if d.extra["accuracy"] < RELIABLE:
            continue
        idx, y = labels(attribute, params)
        assert _auc(x[idx] @ d.vector, torch.from_numpy(y)) >= 0.85, attribute.name


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
