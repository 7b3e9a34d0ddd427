"""Every dialog in a real GIMP 3 on an Xvfb display (tests/gimp/dialogs_batch.py): what each shows, a
screenshot, OK; the two-layer dialogs and Edit attributes with a StyleMapGAN model; the settings dialog
refusing a token."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from server.models.loading import embedded_beside
from tests.gimp.gimp_display import confirm_dialogs, on_display, screenshots_in, xvfb
from tests.gimp.gimp_run import SCREENSHOTS, STYLEMAP_MODEL, log, needs_gimp3, run_gimp, wait_for

pytestmark = needs_gimp3


# In Edit attributes, from OK (focused): back past Cancel to the last slider (sefa8), then two pages down (-2)
SLIDE = ["shift+Tab", "shift+Tab", "Page_Up", "Page_Up"]
# In Live preview: a key that does nothing (Close keeps the focus), so the window has a moment to show a preview
LOOK = ["shift"]


def test_dialogs_in_gimp(gimp_root, server, packaged_plugin, tmp_path):
    """Every procedure run interactively: what each dialog shows (recorded by the plug-in as it opens it),
    a screenshot of it, then OK. The settings dialog shows the file's values, the token hidden and the
    server's models; its report comes in an information box."""
    params = {"server": server}
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    with xvfb(gimp_root) as display:
        report, titles = run_gimp(gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
                                  f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl",
                                  confirm_dialogs(gimp_root, display, shots, {"Edit attributes...": SLIDE,
                                                                               "GAN Collage live preview": LOOK}))
    statuses = {name: result for name, result in report.items() if isinstance(result, dict) and "status" in result}
    assert all(result["status"] == "success" for result in statuses.values()), statuses
    assert len(statuses) == 9
    assert titles == {"Server settings...", "GAN Collage settings saved", "Realize collage - fast...",
                      "Realize collage - refine...", "Project layer...", "Interpolate two layers...",
                      "Mix styles...", "Local blend...", "Edit attributes...", "GAN Collage live preview"}
    assert len(list(shots.glob("*.png"))) == len(titles)
    # OK on the prefilled settings dialog saved what the file held
    assert (report["settings_file"]["server"], report["settings_file"]["token"]) == (server, "secret-token")
    assert len(report["layers"]) == 2 + 1 + 1 + 1 + 8 + 1 + 1 + 1
    assert "Edited upper (pc1 +2, sefa8 -2, default)" in report["layers"] and report["edited_has_latent"]

    dialogs = {entry["procedure"].removeprefix("python-fu-gan-collage-"): entry
               for entry in map(json.loads, described.read_text().splitlines())}
    settings = dialogs["settings"]
    assert settings["controls"]["token"]["hidden_text"] is True
    assert settings["models"] == ["default", *embedded_beside("default")]  # the server's, with no --model
    assert not {"Reset", "Load Saved Settings", "Save Settings"} & set(settings["buttons"])
    fast = dialogs["realize"]["controls"]
    assert "seed" not in fast and "steps" not in fast and {"feather", "margin", "include-results"} <= set(fast)
    refine = dialogs["refine"]["controls"]  # hybrid by default: optimization settings matter
    assert refine["steps"]["sensitive"] and refine["seed"]["sensitive"]
    for name in ("project", "interpolate", "style-mix", "local-blend"):  # the regressor by default
        controls = dialogs[name]["controls"]
        assert not controls["steps"]["sensitive"] and not controls["seed"]["sensitive"], name
    # Edit attributes: the model's named directions (if it has any), then 8 GANSpace and 8 SeFa ones; the
    # preview followed the slider moved (pc1 at 2 as the dialog opened, then sefa8 at -1, -2; a preview
    # still in progress when the next value came is skipped)
    edit = dialogs["edit"]
    components = [f"pc{i}" for i in range(1, 9)] + [f"sefa{i}" for i in range(1, 9)]
    assert edit["sliders"][-16:] == components and not set(edit["sliders"][:-16]) & set(components)
    assert edit["previews"][0] == [["pc1", 2.0]] and edit["previews"][-1] == [["pc1", 2.0], ["sefa8", -2.0]]
    assert edit["rows"] == "default"
    live = dialogs["live"]  # opened from the menu and closed with Return (Close has the focus): nothing added
    assert live["models"] == ["default", *embedded_beside("default")] and live["applied"] == []
    assert live["values"]["method"] == "regressor"
    log(f"the live window showed {live['previews']} previews before it was closed: {live['statuses']}")
    rows = dialogs["style-mix"]["controls"]["split"]["range"]
    assert rows == dialogs["local-blend"]["controls"]["start-layer"]["range"] and rows[0] == 0 and 2 <= rows[1] < 64


def test_stylemap_dialogs_in_gimp(gimp_root, stylemap_served, packaged_plugin, tmp_path):
    """The two-layer dialogs with a StyleMapGAN model chosen: Split and "Blend from layer" range over its 6
    resizer levels, Mix space matters (and "Blend from layer" does not while it is "Whole stylemap"), Edit
    attributes offers GANSpace directions only, with the rows a stylemap has."""
    shots = (Path(SCREENSHOTS) / "stylemap") if SCREENSHOTS else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    params = {"server": stylemap_served.address, "model": STYLEMAP_MODEL, "edits": "pc1=2",
              "procedures": ["style-mix", "local-blend", "edit"]}
    with xvfb(gimp_root) as display:
        report, titles = run_gimp(gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
                                  f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl",
                                  confirm_dialogs(gimp_root, display, shots))
    statuses = {name: result["status"] for name, result in report.items() if isinstance(result, dict)
                and "status" in result}
    assert statuses == {"style-mix": "success", "local-blend": "success", "edit": "success"}, report
    assert titles == {"Mix styles...", "Local blend...", "Edit attributes..."}
    dialogs = {entry["procedure"].removeprefix("python-fu-gan-collage-"): entry
               for entry in map(json.loads, described.read_text().splitlines())}
    split = dialogs["style-mix"]["controls"]["split"]
    blend = dialogs["local-blend"]["controls"]
    assert split["range"] == blend["start-layer"]["range"] == [0, 6]
    assert blend["mix-space"]["sensitive"] and not blend["start-layer"]["sensitive"]
    edit = dialogs["edit"]
    assert edit["sliders"] and all(name.startswith("pc") for name in edit["sliders"])
    assert any(name.startswith("Edited upper (pc1 +2") for name in report["layers"]) and report["edited_has_latent"]


def test_settings_dialog_refuses_a_token_that_cannot_travel(gimp_root, server, packaged_plugin, tmp_path):
    """The settings file holds a token that cannot travel in gRPC metadata (written by hand): the settings
    dialog shows it; OK is refused in the dialog, with the reason, and the dialog stays open; Cancel then
    leaves the file as it was."""
    described = gimp_root / "tmp" / "gan-collage-dialogs.jsonl"
    described.unlink(missing_ok=True)
    inside = screenshots_in(gimp_root)

    def refuse_then_cancel(display: str):
        in_display = on_display(gimp_root, display)

        def during(gimp) -> list:
            window = ""
            while not window and gimp.poll() is None:
                window = in_display("xdotool", "search", "--onlyvisible", "--name", "Server settings").strip()
                time.sleep(0.2)
            in_display("xdotool", "windowfocus", "--sync", window, "key", "Return")
            wait_for(lambda: "refused" in (described.read_text() if described.exists() else ""), 30, "the refusal")
            time.sleep(0.5)  # let GTK draw it
            in_display("python3", "/tmp/gan-collage-shots/screenshot.py", "/tmp/gan-collage-shots/refused.png")
            still_open = in_display("xdotool", "search", "--onlyvisible", "--name", "Server settings").strip()
            in_display("xdotool", "windowfocus", "--sync", window, "key", "Escape")
            return [window, still_open]

        return during

    params = {"server": server, "token": "clé", "procedures": ["settings"]}
    with xvfb(gimp_root) as display:
        report, (window, still_open) = run_gimp(
            gimp_root, packaged_plugin, "dialogs_batch.py", params, tmp_path,
            f"DISPLAY={display} GAN_COLLAGE_DIALOG_REPORT=/tmp/gan-collage-dialogs.jsonl", refuse_then_cancel(display))
    if SCREENSHOTS:
        shutil.copy(inside / "refused.png", Path(SCREENSHOTS) / "settings-refused-token.png")
    refusals = [entry["refused"] for entry in map(json.loads, described.read_text().splitlines()) if "refused" in entry]
    assert refusals == ["The token cannot be used: it holds 'é', and a token may hold only ASCII letters, digits, "
                        "punctuation and spaces. Enter the token the GAN Collage server was started with (its "
                        "--token)."]
    assert window and still_open == window  # refused in the dialog, which stayed open
    assert report["settings"]["status"] == "cancel" and report["settings_file"]["token"] == "clé"
