"""Seconds per phase of one action and a few counts, for the click-to-layer benchmark."""
from __future__ import annotations

import time
from typing import Callable


class Timings:
    """Seconds per phase of one action (read, call, write...) and a few counts, for the benchmark."""

    def __init__(self):
        self.seconds: dict = {}
        self.counts: dict = {}

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def timed(self, phase: str, work: Callable):
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.add(phase, time.perf_counter() - started)
