"""The tree passes ruff (the rules and the excluded generated stubs are in pyproject.toml's [tool.ruff])."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")  # the dev extra's pinned ruff, beside this Python
    done = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", str(REPO)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ruff check (`.venv/bin/ruff check --fix .` fixes most):\n{done.stdout}{done.stderr}"
