"""A very short run of `python -m server.tools.loadtest`: it starts its server, loads it, and reports."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO
from test_server_fixtures import python_env

pytest_plugins = ("test_server_fixtures",)  # its fixtures: model_paths


def test_short_load_run(model_paths, tmp_path):
    default, _ = model_paths
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, "-m", "server.tools.loadtest", "--model", str(default), "--clients", "2",
                           "--seconds", "1.5", "--warmup", "0.5", "--optimize-steps", "2", "--json", str(out)],
                          cwd=REPO, env=python_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["calls"] > 0 and report["errors_by_code"] == {}
    assert report["throughput_per_s"] > 0 and report["latency_s"]["completed"]["p50"] is not None
    rss = report["server_rss_kb"]
    assert rss["before"] > 0 and rss["after"] > 0
