"""Latents in a real GIMP 3: kept with their layers through an XCF save and reopen and used again
(tests/gimp/latents_batch.py), and crafted latent parasites projected again (tests/gimp/crafted_batch.py)."""
from __future__ import annotations

from tests.gimp.gimp_run import calls_logged, growth, log, needs_gimp3, run_gimp, sample_memory

pytestmark = needs_gimp3


def test_latents_stay_with_their_layers_through_xcf(gimp_root, served, packaged_plugin, tmp_path):
    """Realize, save as XCF, reopen: the layer still has its latent, and Edit attributes on it calls no
    projection (the server's log says which calls each step made); a plain layer is projected first."""
    address = served.address
    logged = len(served.log_lines)
    report, _ = run_gimp(gimp_root, packaged_plugin, "latents_batch.py", {"server": address}, tmp_path, "",
                         lambda gimp: None)
    calls = report["calls"]
    assert {label: call["status"] for label, call in calls.items()} == {
        "settings": "success", "realize": "success", "edit stored": "success", "edit photo": "success",
        "interpolate stored": "success", "unknown direction": "execution-error", "no change": "execution-error"}
    # Realize, then (after the reopen) Edit on the stored latent, Edit on the plain layer, Interpolate; the
    # two refused edits only asked for the names
    assert calls_logged(served.log_lines[logged:]) == [
        "Realize OK", "ListDirections OK", "EditLatent OK", "Project OK", "ListDirections OK", "EditLatent OK",
        "Interpolate OK", "ListDirections OK", "ListDirections OK"]

    realized = calls["realize"]["layer"]
    model = realized["latent_header"]["model"]
    header = realized["latent_header"]
    assert realized["latent_magic"] == list(b"GCL\x02") and header["kind"] == "w_plus" and header["shape"][0] > 0
    assert realized["latent_bytes"] > 4 * header["shape"][0] * header["shape"][1]
    (reopened,) = [layer for layer in report["reopened"] if layer["name"] == realized["name"]]
    assert reopened == realized  # pixels, mask and the latent's bytes, as saved
    assert [layer["latent_sha"] for layer in report["reopened"] if layer["name"] in ("background", "photo")] == \
        [None, None]

    edited = calls["edit stored"]["layer"]
    assert edited["name"] == f"Edited {realized['name']} (pc1 +2, sefa1 -1; fine rows, {model})"
    # same placement and mask as the source; its own (edited) latent for the same square
    assert edited["box"] == realized["box"] and edited["mask_sha"] == realized["mask_sha"]
    assert edited["sha"] != realized["sha"] and edited["latent_sha"] not in (None, realized["latent_sha"])
    assert edited["latent_header"]["square"] == realized["latent_header"]["square"]
    photo = calls["edit photo"]["layer"]
    assert photo["name"] == f"Edited photo (pc2 +1.5; all rows, {model})" and photo["box"] == [40, 30, 20, 14]
    assert photo["latent_header"]["square"] == [0, -3, 20]  # the square its projection stands for: (dx, dy, size)
    assert calls["interpolate stored"]["layer"]["latent_sha"] is not None

    assert "no direction called 'no_such_direction'" in calls["unknown direction"]["error"]
    assert "No attribute change was asked for" in calls["no change"]["error"]
    assert report["unchanged_after_errors"]
    assert report["after"] == report["before"] and report["realized_after"] == realized  # never touched
    log(f"Edit with the stored latent {calls['edit stored']['seconds']} s, with a projection "
        f"{calls['edit photo']['seconds']} s")


def test_crafted_latents_in_gimp(gimp_root, served, packaged_plugin, tmp_path):
    """A layer whose latent parasite was crafted (a 16384 px square on the 48 px layer, Infinity, NaN, far away;
    values NaN or past the server's limit): Edit attributes, Interpolate and Mix styles project the layer again,
    each within 5 s and a bounded memory, say so, and leave the layers as they were. Server settings refuses a
    token that cannot travel in gRPC metadata, with the reason, and keeps the settings file."""
    report, samples = run_gimp(gimp_root, packaged_plugin, "crafted_batch.py", {"server": served.address}, tmp_path,
                               "", sample_memory(gimp_root))
    calls = report["calls"]
    figures = {label: (call["seconds"], *growth(samples, call["started"], call["ended"]))
               for label, call in calls.items() if "started" in call}
    for label, (seconds, resident, used) in figures.items():
        log(f"{label}: {seconds:.2f} s; GIMP and the plug-in +{resident:.0f} MB, the machine +{used:.0f} MB")
    failed = {label: call.get("error") for label, call in calls.items()
              if call["status"] != "success" and label != "bad token"}
    assert not failed, failed
    assert len(figures) == 6 * 3 and all(seconds < 5 and resident < 400 for seconds, resident, _ in figures.values())
    assert report["changed"] == []
    said = (tmp_path / "gimp-output.txt").read_text().count("The latent stored with the layer 'photo' could not be "
                                                            "used (it is damaged, or GAN Collage did not make it), "
                                                            "so the layer was projected again.")
    assert said == len(figures)
    assert calls["bad token"]["status"] == "execution-error" and report["settings_unchanged"]
    assert calls["bad token"]["error"].startswith("GAN Collage settings were not saved. The token cannot be used: "
                                                  "it holds 'é', and a token may hold only ASCII letters")
