"""A StyleMapGAN model in a real GIMP 3 (tests/gimp/stylemap_batch.py): every action, and its stylemap
parasites through an XCF save and reopen."""
from __future__ import annotations

import json

from tests.gimp.gimp_run import STYLEMAP_MODEL, calls_logged, log, needs_gimp3, run_gimp

pytestmark = needs_gimp3


def test_a_stylemap_model_in_gimp(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The plug-in (pure-Python gRPC) set to a StyleMapGAN model: Realize, Local blend of two results (the
    whole-stylemap blend keeps its stylemap), the every-level blend and Mix styles (no latent), Interpolate,
    Edit attributes; the stylemap parasites survive an XCF save and reopen and are used again, unprojected
    (the server's log says which calls each step made)."""
    logged = len(stylemap_served.log_lines)
    report, _ = run_gimp(gimp_root, packaged_plugin, "stylemap_batch.py",
                         {"server": stylemap_served.address, "model": STYLEMAP_MODEL}, tmp_path, "", lambda gimp: None)
    calls = report["calls"]
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label != "edit fine"}
    assert not failed, failed
    assert calls["settings"]["status"] == "success"
    assert f"{STYLEMAP_MODEL} (32 px, 8x8x64 stylemap, regressor)" in calls["settings"]["value"]
    # no layer with a stylemap of its own was projected again, before or after the reopen; the edit of the
    # coarse/middle/fine third was refused before any call
    assert calls_logged(stylemap_served.log_lines[logged:]) == [
        "Realize OK", "Realize OK", "LocalBlend OK", "LocalBlend OK", "StyleMix OK", "Interpolate OK",
        "ListDirections OK", "EditLatent OK", "Project OK", "Interpolate OK", "ListDirections OK", "EditLatent OK"]

    def stylemap_of(label):
        layer = calls[label]["layer"]
        header = layer["latent_header"]
        assert layer["latent_magic"] == list(b"GCL\x02"), label
        assert (header["kind"], header["shape"], header["model"]) == ("stylemap", [64, 8, 8], STYLEMAP_MODEL), label
        return layer

    realized, blend = stylemap_of("realize"), stylemap_of("blend")
    assert realized["name"] == f"Realized (regressor, {STYLEMAP_MODEL})"
    assert realized["latent_bytes"] == 8 + len(json.dumps(realized["latent_header"], separators=(",", ":"))) \
        + 4 * 64 * 8 * 8
    assert blend["name"].endswith(f"(whole stylemap, {STYLEMAP_MODEL})")
    assert blend["latent_sha"] not in (realized["latent_sha"], stylemap_of("realize canvas")["latent_sha"])
    levels, mixed = calls["blend levels"]["layer"], calls["mix"]["layer"]
    assert levels["name"].endswith(f"(every level from 2, {STYLEMAP_MODEL})") and levels["latent_sha"] is None
    assert mixed["name"].endswith(f"(split 3, {STYLEMAP_MODEL})") and mixed["latent_sha"] is None
    for label in ("interpolate", "edit all", "project photo", "interpolate reopened", "edit reopened"):
        stylemap_of(label)
    assert calls["edit all"]["layer"]["name"] == f"Edited {blend['name']} (pc1 +2, pc2 -1; all rows, {STYLEMAP_MODEL})"
    assert calls["edit fine"]["status"] == "execution-error" and calls["edit fine"]["seconds"] < 5
    assert (f"The model '{STYLEMAP_MODEL}' keeps its latent as a stylemap, so an edit moves all of it"
            in calls["edit fine"]["error"])
    # the stylemaps, pixels and masks as saved
    assert report["reopened"] == {"realize": realized, "blend": blend, "edit all": calls["edit all"]["layer"]}
    assert calls["edit reopened"]["layer"]["latent_header"]["square"] == blend["latent_header"]["square"]
    assert report["after"] == report["before"]
    timings = ", ".join(f"{label} {call['seconds']} s" for label, call in calls.items())
    log(f"StyleMapGAN in GIMP: {timings}")
