"""Probes for the engine's cost and cancel points."""
from __future__ import annotations

from pathlib import Path

import pytest


class CancelAfter:
    """A cancel token that cancels itself after `checks` checks: where the engine checks is observable."""

    def __init__(self, checks: int):
        self.left = checks

    def check(self):
        from server.engine.errors import Cancelled

        self.left -= 1
        if self.left < 0:
            raise Cancelled("cancelled by the test")


def peak_rss_growth(work) -> int:
    """Bytes this process's peak RSS rose above its RSS before `work()` (Linux: VmHWM reset through
    /proc/self/clear_refs). Unlike tracemalloc it sees torch's and Pillow's allocations too."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("peak RSS is read from /proc/self/status (Linux only)")

    def field(name: str) -> int:
        line = next(line for line in status.read_text().splitlines() if line.startswith(name + ":"))
        return int(line.split()[1]) * 1024

    Path("/proc/self/clear_refs").write_text("5")
    before = field("VmRSS")
    work()
    return field("VmHWM") - before
