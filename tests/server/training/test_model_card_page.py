"""The model card page quotes the evaluation script's latest output, run with the full protocol.

`docs/model-card.md` is written by hand around figures that `server.training.evaluate` writes to
`docs/model-card/metrics.json`; these checks keep the two from drifting apart.
"""
from __future__ import annotations

import json
import re

import pytest

from server.training.evaluate import results_markdown
from tests.support.paths import REPO

DOCS = REPO / "docs"
CARD = DOCS / "model-card.md"
METRICS = DOCS / "model-card" / "metrics.json"
MIN_IMAGES = 200
FULL_PROTOCOL_STEPS = 500


@pytest.fixture(scope="module")
def metrics():
    return json.loads(METRICS.read_text())


def test_the_card_shows_the_command_that_made_its_figures(metrics):
    without_threads = re.sub(r" --threads \d+", "", metrics["command"])
    assert f"```sh\n{without_threads}\n```" in CARD.read_text()


def test_the_figures_come_from_the_full_protocol(metrics):
    recon = metrics["reconstruction"]
    for visible in ("100%", "50%", "25%"):
        for method in ("regressor", f"optimize W+ {FULL_PROTOCOL_STEPS} steps"):
            assert recon[f"{method} | {visible} visible"]["images"] >= MIN_IMAGES


def test_the_card_table_is_the_evaluation_output(metrics):
    figures = {part: metrics[part] for part in ("reconstruction", "collages")}
    tables = results_markdown({"name": metrics["model"]}, figures, metrics["command"]).split("\n\n")
    reconstruction = next(block for block in tables if block.startswith("| method | visible |"))
    assert reconstruction in CARD.read_text()


def test_the_card_quotes_the_collage_figures(metrics):
    text = " ".join(CARD.read_text().split())
    for name, figures in metrics["collages"].items():
        quoted = f"{figures['masked_psnr']:.2f} dB / "
        assert quoted in text, f"collage figure for {name} ({quoted}) missing from the card"
