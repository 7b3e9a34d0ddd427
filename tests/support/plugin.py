"""For the plug-in's tests: a closed port, Pythons without grpcio. (The packaged plug-in folder is conftest's
`packaged_plugin`.)"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path


def closed_port() -> int:
    """A loopback port nothing listens on: bound once by us, then released (never one a server is using)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plain_python(*args: str, timeout: float = 120, python: str = sys.executable) -> subprocess.CompletedProcess:
    """An interpreter (this one by default) without site-packages (python -S): no grpcio, no protobuf, no
    numpy, like GIMP's Python on Windows, macOS or Flatpak."""
    return subprocess.run([python, "-S", *args], capture_output=True, text=True, timeout=timeout, cwd="/")


def other_python(version: str) -> str | None:
    """An interpreter of that version (pyenv's, or python3.X on PATH but not a pyenv shim), None when there is none."""
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python"))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(f"python{version}")
    return found if found and "/shims/" not in found else None
