"""The Live preview window in a real GIMP 3 on an Xvfb display (tests/gimp/live_batch.py), with the
default model and with a StyleMapGAN model."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.gimp.gimp_display import xvfb
from tests.gimp.gimp_run import SCREENSHOTS, STYLEMAP_MODEL, log, needs_gimp3, run_gimp

pytestmark = needs_gimp3


def test_live_preview_with_a_stylemap_model(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The Live preview window set to a StyleMapGAN model: previews, Apply (the layer keeps the preview's
    stylemap) and Refine from that stylemap, the artist's layers untouched."""
    params = {"server": stylemap_served.address, "model": STYLEMAP_MODEL, "mode": "test", "side": 96,
              "selection": [16, 16, 56, 48], "values": {"refine-steps": 3}}
    with xvfb(gimp_root) as display:
        report, _ = run_gimp(gimp_root, packaged_plugin, "live_batch.py", params, tmp_path, f"DISPLAY={display}",
                             lambda gimp: None, timeout=240)
    assert "error" not in report, report["error"]
    if SCREENSHOTS:
        shutil.copy(tmp_path / "out" / "live-window.png", Path(SCREENSHOTS) / "live-window-stylemap.png")
    assert report["first_status"].startswith("Updated in ") and report["moved_preview"]["differs"]
    apply = report["apply"]
    assert apply["after"] == apply["before"] and apply["count_after"] == apply["count"] + 1
    new = apply["new"]
    assert new["name"] == f"Realized (regressor, {STYLEMAP_MODEL})"
    assert new["latent_bytes"] > 4 * 64 * 8 * 8  # the stylemap and its header
    refine = report["refine"]
    assert refine["applied"][-1] == f"Realized (optimize, {STYLEMAP_MODEL}, seed 0, 3 steps)", refine["status"]
    assert refine["after"] == refine["before"] and refine["new"]["latent_bytes"] == new["latent_bytes"]
    assert not [text for text in report["statuses"] if "Cannot reach" in text or "problem" in text]


def test_live_preview_in_gimp(gimp_root, server, packaged_plugin, tmp_path):
    """The Live preview window on an Xvfb display (tests/gimp/live_batch.py plays the artist): it shows a
    preview, follows a layer moved through the PDB, Apply adds the layer as Realize would (above the
    selected layer, masked by the selection, with its latent; the selected layer stays selected) and
    leaves the artist's layers byte-identical, Apply right after a change waits for that change's preview,
    Refine optimizes from the preview and adds that."""
    from server.shared.defaults import DEFAULT_MARGIN
    from server.shared.region import Bounds, region_square

    selection = [16, 16, 56, 48]
    params = {"server": server, "mode": "test", "side": 96, "selection": selection, "values": {"refine-steps": 3}}
    with xvfb(gimp_root) as display:
        report, _ = run_gimp(gimp_root, packaged_plugin, "live_batch.py", params, tmp_path, f"DISPLAY={display}",
                             lambda gimp: None, timeout=240)
    assert "error" not in report, report["error"]
    photo = tmp_path / "out" / "live-window.png"
    if SCREENSHOTS:
        shutil.copy(photo, Path(SCREENSHOTS) / "live-window.png")
    assert photo.stat().st_size > 10_000
    assert report["first_status"].startswith("Updated in ") and report["moved_preview"]["differs"]
    assert report["moved_preview"]["status"].startswith("Updated in ")
    log(f"a moved layer was previewed {1000 * report['moved_preview']['latency']:.0f} ms after the move")
    painted = report["painted_preview"]  # pixels changed, nothing moved: the probe saw it before a recheck
    assert painted["latency"] < 0.9 and not painted["by_recheck"], painted

    apply = report["apply"]
    assert apply["after"] == apply["before"] and apply["count_after"] == apply["count"] + 1
    new = apply["new"]
    assert new["name"] == "Realized (regressor, default)" and new["latent_bytes"] and new["mask_sha"]
    x, y, width, height = selection
    region = region_square(Bounds(x, y, x + width, y + height), 96, 96, DEFAULT_MARGIN).bounds
    crop = region.intersect(Bounds(0, 0, 96, 96))
    assert new["box"] == [crop.x0, crop.y0, crop.width, crop.height]
    assert apply["position"] == ["patch", new["name"], "photo", "background"]  # above the selected layer
    assert apply["selected_after"] == apply["selected_before"] == ["photo"]

    pending = report["pending"]
    assert pending["waited"] and pending["for_the_change"] and pending["after"] == pending["before"]
    assert pending["new"]["sha"] != new["sha"]  # the patch moved back: another picture

    refine = report["refine"]
    assert refine["label_while"] == "_Stop refining" and refine["label_after"] == "_Refine"
    assert refine["applied"][-1] == "Realized (optimize, default, seed 0, 3 steps)", refine["status"]
    assert refine["after"] == refine["before"] and refine["new"]["latent_bytes"]
    assert not [text for text in report["statuses"] if "Cannot reach" in text or "problem" in text]
    assert report["closed"] == {"status": "The image was closed. Close this window, or open it again on another "
                                          "image.", "apply": False, "refine": False}
    assert report["non_interactive"]["status"] == "calling-error"
    assert "open it from the menu" in report["non_interactive"]["message"]
