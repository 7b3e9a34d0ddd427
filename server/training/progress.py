"""A training progress bar: step, images/s, the latest losses and the time left.

On a terminal one line is rewritten (at most five times a second); otherwise (a log file, CI) a line
is written every `every` steps. The rates count only the steps of this call, so a resumed run's
estimate is not skewed by the time it spent stopped.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 20
REDRAW_SECONDS = 0.2


def duration(seconds: float) -> str:
    """'1:02:03' (hours:minutes:seconds), or '?' when unknown."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TrainingBar:
    def __init__(self, total: int, start: int, batch: int, every: int = 100, stream: TextIO | None = None):
        self.total, self.start, self.batch, self.every = total, start, batch, every
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.t0 = self.last_draw = time.perf_counter()
        self.width = 0

    def line(self, step: int, logs: dict) -> str:
        done = step - self.start
        elapsed = time.perf_counter() - self.t0
        rate = done / elapsed if elapsed > 0 and done else 0.0
        left = (self.total - step) / rate if rate else float("nan")
        filled = WIDTH * min(step, self.total) // max(self.total, 1)
        losses = " ".join(f"{k} {v:.4g}" for k, v in logs.items() if isinstance(v, float))
        return (f"step {step}/{self.total} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                f"{rate * self.batch:.1f} img/s  {losses}  ETA {duration(left)}")

    def update(self, step: int, logs: dict) -> None:
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw < REDRAW_SECONDS and step < self.total:
                return
            text = self.line(step, logs)
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        elif step % self.every == 0 or step == self.total:
            self.stream.write(self.line(step, logs) + "\n")
        self.last_draw = now
        self.stream.flush()

    def close(self) -> None:
        """End the rewritten line, so what is printed next starts on its own."""
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
