"""The plug-in's source folder copied by hand without vendor/ in a real GIMP 3
(tests/gimp/incomplete_batch.py)."""
from __future__ import annotations

from tests.gimp.gimp_run import needs_gimp3, run_gimp
from tests.support.paths import REPO

pytestmark = needs_gimp3


def test_a_source_folder_copied_by_hand_registers_and_says_what_to_do(gimp_root, tmp_path):
    """gimp_plugin/gan_collage copied without vendor/: every procedure is in the menu and explains the fix."""
    report, _ = run_gimp(gimp_root, REPO / "gimp_plugin" / "gan_collage", "incomplete_batch.py", {}, tmp_path, "",
                         lambda gimp: None)
    names = ("realize", "refine", "project", "interpolate", "style-mix", "local-blend", "edit", "settings")
    assert all(report[name] is not None for name in names), report
    for name in names:
        assert report[name]["paths"] == ["<Image>/Filters/Generative/GAN Collage"]
        assert report[name]["status"] == "execution-error"
        assert "is incomplete" in report[name]["error"] and "install.py --package-plugin OUT" in report[name]["error"]
    assert report["layers"] == 1
