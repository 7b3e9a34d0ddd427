"""The benchmark script runs end to end on a tiny model and reports what its table claims."""
import json
import math

import pytest

from tests.support.models import make_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from server.models.own_format import save_model

    tiny = make_tiny_model(32)
    folder = tmp_path_factory.mktemp("bench") / "tiny"
    save_model(folder, tiny.generator, tiny.discriminator, tiny.regressor, name="tiny",
               description="tiny random bench model")
    return folder


def test_bench_quality_only(tiny_folder, tmp_path, capsys):
    from server.tools import bench

    out, md = tmp_path / "b.json", tmp_path / "b.md"
    bench.main(["--model", str(tiny_folder), "--no-speed", "--images", "2", "--steps", "0,3",
                "--reference-steps", "3", "--out", str(out), "--markdown", str(md)])
    report = json.loads(out.read_text())
    assert report["speed"] == []
    plan = {(r["targets"], r["method"], r["steps"]) for r in report["quality"]}
    assert plan == {(k, m, s) for k in ("heldout", "collage") for m in ("optimize", "hybrid") for s in (0, 3)} | {
        ("heldout", "reference", 3), ("collage", "reference", 3)}
    assert all(r["n"] == 2 and r["masked_psnr"] > 0 for r in report["quality"])
    table = md.read_text()
    assert "## Speed" not in table and "| heldout | hybrid |" in table and "--no-speed" in table


def test_bench_speed_row_fields(tiny_folder, tmp_path):
    from server.tools import bench

    out = tmp_path / "s.json"
    bench.main(["--model", str(tiny_folder), "--no-quality", "--sizes", "", "--repeats", "1", "--out", str(out)])
    (row,) = json.loads(out.read_text())["speed"]
    assert row["resolution"] == 32
    assert row["bare_fwd_bwd_ms"] > 0 and row["regressor_ms"] > 0
    # per-step times are differences of two timings: finite, but on a loaded machine not always > 0
    assert math.isfinite(row["step_pixel_ms"]) and math.isfinite(row["step_default_ms"])
    assert row["overhead_pixel_pct"] == pytest.approx((row["step_pixel_ms"] / row["bare_fwd_bwd_ms"] - 1) * 100)
