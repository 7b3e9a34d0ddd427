"""The model card page quotes the evaluation script's latest output, run with the full protocol.

`docs/model-card.md` is written by hand around figures that `server.training.evaluate` writes to
`docs/model-card/metrics.json`; these checks keep the two from drifting apart.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
CARD = DOCS / "model-card.md"
METRICS = DOCS / "model-card" / "metrics.json"
MIN_IMAGES = 200
FULL_PROTOCOL_STEPS = 500


@pytest.fixture(scope="module")
def metrics():
    return json.loads(METRICS.read_text())


def card_reconstruction_rows() -> dict[tuple[str, str], tuple[float, float, int]]:
    rows = re.findall(r"^\| ([^|]+) \| (\d+%) \| ([\d.]+) ± [\d.]+ \| ([\d.]+) ± [\d.]+ \| (\d+) \|$",
                      CARD.read_text(), flags=re.MULTILINE)
    return {(method, visible): (float(psnr), float(ssim), int(images))
            for method, visible, psnr, ssim, images in rows}


def test_the_card_shows_the_command_that_made_its_figures(metrics):
    without_threads = re.sub(r" --threads \d+", "", metrics["command"])
    assert f"```sh\n{without_threads}\n```" in CARD.read_text()


def test_the_figures_come_from_the_full_protocol(metrics):
    recon = metrics["reconstruction"]
    for visible in ("100%", "50%", "25%"):
        for method in ("regressor", f"optimize W+ {FULL_PROTOCOL_STEPS} steps"):
            assert recon[f"{method} | {visible} visible"]["images"] >= MIN_IMAGES


def test_the_card_table_equals_the_metrics(metrics):
    rows = card_reconstruction_rows()
    assert len(rows) == len(metrics["reconstruction"])
    for key, figures in metrics["reconstruction"].items():
        method, visible = key.split(" | ")
        psnr, ssim, images = rows[(method, visible.removesuffix(" visible"))]
        assert psnr == round(figures["masked_psnr"], 2)
        assert ssim == round(figures["masked_ssim"], 3)
        assert images == figures["images"]


def test_the_card_quotes_the_collage_figures(metrics):
    text = " ".join(CARD.read_text().split())
    for name, figures in metrics["collages"].items():
        quoted = f"{figures['masked_psnr']:.2f} dB / "
        assert quoted in text, f"collage figure for {name} ({quoted}) missing from the card"
