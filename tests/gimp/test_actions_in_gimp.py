"""Every procedure of the packaged plug-in run non-interactively in a real GIMP 3 (tests/gimp/e2e_batch.py),
through each gRPC stack: the packaged folder copied by hand (pure-Python gRPC) and the zip unpacked
(grpcio); errors, and a long job cancelled the way GIMP does."""
from __future__ import annotations

import os

import pytest

from tests.gimp.gimp_run import GRPCIO, STEPS, cancel_like_gimp, log, needs_gimp3, run_gimp
from tests.support.plugin import closed_port

pytestmark = needs_gimp3


@pytest.mark.parametrize("stack", ["pure-python", "grpcio"])
def test_every_procedure_in_gimp(stack, gimp_root, server, packaged_plugin, unzipped_plugin, tmp_path):
    """The packaged folder copied by hand (pure-Python), and the zip unpacked (grpcio)."""
    unreachable = f"127.0.0.1:{closed_port()}"
    params = {"server": server, "unreachable": unreachable, "steps": STEPS}
    plugin = packaged_plugin if stack == "pure-python" else unzipped_plugin
    assert os.access(plugin / "gan_collage.py", os.X_OK)
    report, stopped_after = run_gimp(gimp_root, plugin, "e2e_batch.py", params, tmp_path,
                                     GRPCIO if stack == "grpcio" else "", cancel_like_gimp(gimp_root, server))
    calls = report["calls"]
    errors = ("one layer", "split too high", "indexed", "huge canvas", "damaged settings", "unreachable settings",
              "unreachable", "forced grpcio", "cancelled")
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label not in errors}
    assert not failed, failed
    assert report["gimp_has_grpc"] == (stack == "grpcio")
    through = "grpcio " if stack == "grpcio" else "pure-Python gRPC (grpclib 0.4.9)"
    assert f"through {through}" in calls["settings"]["value"] and report["settings_file"] in calls["settings"]["value"]

    def new(label):
        return [(n["name"], n["x"], n["y"], n["width"], n["height"], n["parent"], n["below"])
                for n in calls[label]["new"]]

    model = "default"
    # realize: the region of interest (selection box (8, 8)-(40, 32) + 4 px margin, made square and moved
    # inside the canvas: (4, 0, 40)), above the selected layer, masked by the selection; nothing changes
    # outside the selection. The regressor has no seed: the name says none.
    assert new("realize") == [(f"Realized (regressor, {model})", 4, 0, 40, 40, None, "patch")]
    assert calls["realize"]["value"] == f"Realized (regressor, {model})"
    above, below, outside = report["realize_mask"]  # feathered inward: never above the selection
    assert above == 0 and outside == 0 and below > 0
    assert report["refine_mask"] == [0, 0, 0]  # feather 0: the selection itself
    assert report["composite_changed_outside_selection"] == 0 and 0 < report["selected_pixels"] < 32 * 24
    # "Visible layers" leaves GAN Collage's own results out unless asked to take them
    assert report["again_is_the_same"] is True and report["with_results_differs"] is True
    assert new("refine") == [(f"Realized (optimize, {model}, seed 3, {STEPS} steps)", 4, 0, 40, 40, None, "masked")]
    # model-resolution results: scaled and cropped onto the source layer, above it (here inside its group)
    assert new("project") == [(f"Projection of child (hybrid, {model}, seed 0, {STEPS} steps)", 40, 4, 16, 16,
                               "group", "child")]
    assert new("interpolate") == [(f"Frame {i} (80ms)", 0, 0, 64, 48, None, below)
                                  for i, below in ((3, "Frame 2 (80ms)"), (2, "Frame 1 (80ms)"), (1, "patch"))]
    assert new("style-mix") == [(f"Style mix of child + masked (split 2, {model})", 40, 4, 16, 16, None, "masked")]
    assert new("local-blend") == [(f"Local blend of background + patch (from layer 1, {model})", 0, 0, 64, 48,
                                   None, "patch")]

    # the user's layers and selection were never touched
    originals = {entry["name"]: entry for entry in report["before"]}
    after = {entry["name"]: entry for entry in report["after"] if entry["name"] in originals}
    assert after == originals
    assert report["selection_unchanged"]

    # errors: a clear message, a PDB error status, the image unchanged
    assert report["unchanged_after_errors"], report["changed_by_errors"]
    for label in errors[:-2]:
        assert calls[label]["status"] == "execution-error" and calls[label]["new"] == [], label
    assert "Select exactly two layers" in calls["one layer"]["error"]
    assert "Split is 50, but the model 'default' has" in calls["split too high"]["error"]
    assert calls["split too high"]["seconds"] < 5  # refused before projecting either layer
    assert "this one is indexed" in calls["indexed"]["error"] and "Image > Mode > RGB" in calls["indexed"]["error"]
    assert (report["indexed_type"], report["indexed_layers"]) == ("indexed", 1)  # nothing added, nothing posterised
    assert "20000 x 20000 pixels; the GAN Collage server takes images up to" in calls["huge canvas"]["error"]
    assert calls["huge canvas"]["seconds"] < 5  # refused before reading or uploading anything
    assert calls["damaged settings"]["error"].startswith("GAN Collage's settings file cannot be used. Open Filters")
    port = unreachable.rsplit(":", 1)[1]
    for label in ("unreachable settings", "unreachable"):
        assert f"Cannot reach the GAN Collage server at {unreachable}. Start it with:" in calls[label]["error"]
        assert f"--port {port}" in calls[label]["error"]
    if stack == "grpcio":
        assert calls["forced grpcio"]["status"] == "success"
    else:
        assert "GIMP's Python cannot use grpcio" in calls["forced grpcio"]["error"]

    # cancel: GIMP kills the plug-in; the server drops the job (10000 steps would take minutes)
    log(f"cancelled call: {calls['cancelled']}")
    assert calls["cancelled"]["status"] != "success" and report["unchanged_after_cancel"]
    assert stopped_after is not None and stopped_after < 10
