"""Progress reporting and cooperative cancellation for long engine calls."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # e.g. "compose", "regressor", "optimize", "paste"
    step: int
    total: int
    preview: Optional[np.ndarray] = None  # small uint8 RGB (h, w, 3) image, when asked for


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Set from any thread; engine loops call `check()` once per step."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self):
        self._event.set()

    def check(self):
        if self._event.is_set():
            raise Cancelled("cancelled by the caller")


Work = Callable[[ProgressCallback, CancelToken], object]  # a job's body: what server/jobs.py runs


def report(callback: ProgressCallback | None, stage: str, step: int, total: int,
           preview: np.ndarray | None = None):
    if callback is not None:
        callback(ProgressEvent(stage, step, total, preview))
