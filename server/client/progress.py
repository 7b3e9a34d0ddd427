"""The command-line client's one-line progress bar on stderr (a line per stage when stderr is not a terminal)."""
from __future__ import annotations

from typing import TextIO

from server.shared.calls import Progress, Status

WIDTH = 24


def describe(progress: Progress) -> str:
    if progress.status is Status.QUEUED:
        return f"queued: {progress.jobs_ahead()}"
    step, total = progress.step, progress.total
    filled = WIDTH * step // total if total else 0
    return f"{progress.stage:<10} [{'#' * filled}{'.' * (WIDTH - filled)}] {step}/{total}"


class ProgressBar:
    def __init__(self, stream: TextIO, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self._last_stage = None
        self._width = 0

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        text = describe(progress)
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif progress.stage != self._last_stage or progress.step == progress.total:
            self.stream.write(text + "\n")
        self._last_stage = progress.stage
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
