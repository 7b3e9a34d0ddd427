"""Shared test fixtures: where ../shared lives, tiny random-weight models."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def conformance_file(name: str) -> Path:
    """Path of a shared conformance file, or skip the test with the reason."""
    path = CONFORMANCE / name
    if not path.exists():
        pytest.skip(f"shared conformance file not found at {path} (only present in the project's CI)")
    return path
