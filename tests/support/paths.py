"""Where things are: the repository, the plug-in's source folder, the shared conformance files."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "gimp_plugin" / "gan_collage"
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


def conformance_file(name: str) -> Path:
    """Path of a shared conformance file, or skip the test with the reason."""
    path = CONFORMANCE / name
    if not path.exists():
        pytest.skip(f"shared conformance file not found at {path} (only present in the project's CI)")
    return path
