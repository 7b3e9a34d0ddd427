"""The one hook for test instrumentation: what dialogs, windows and runs report to tests and benchmarks.

Code that has something to report calls `current.record(kind, entry)`; kinds:

- "dialog": what a dialog showed (its controls, a refusal, the edits it closed with);
- "timings": one run's phases (the click-to-layer benchmark);
- "live-status", "live-preview": Live preview's status texts and each preview's timings, as they happen;
  "live-closed": its values, models and counts as it closes.

The default, `ReportFiles`, appends JSON lines to the files $GAN_COLLAGE_DIALOG_REPORT ("dialog") and
$GAN_COLLAGE_TIMINGS ("timings") name, and does nothing without them; the live window's closing line
gets the status texts shown since it opened (the window itself keeps none). Tests that drive a window themselves set `current` to an
observer of their own. Nothing here is kept unless a report file is named.
"""
from __future__ import annotations

import json
import os
import time
from typing import Protocol

REPORT_ENV = "GAN_COLLAGE_DIALOG_REPORT"
TIMINGS_ENV = "GAN_COLLAGE_TIMINGS"
FILES = {"dialog": REPORT_ENV, "live-status": REPORT_ENV, "live-closed": REPORT_ENV, "timings": TIMINGS_ENV}


class Observer(Protocol):
    def watching(self, kind: str) -> bool:
        """Whether entries of this kind are wanted (describing a dialog costs a little)."""

    def record(self, kind: str, entry) -> None:
        """One entry: a dict, or a status text for "live-status"."""


class ReportFiles:
    """JSON lines into the files the environment names; `process_started` is the entry file's first moment."""

    def __init__(self, environ=os.environ):
        self._environ = environ
        self.process_started = time.time()
        self._statuses: list = []  # Live preview's, until its window closes (only while a report file is named)

    def watching(self, kind: str) -> bool:
        return kind in FILES and bool(self._environ.get(FILES[kind]))

    def record(self, kind: str, entry) -> None:
        if not self.watching(kind):
            return
        if kind == "live-status":
            self._statuses.append(entry)
            return
        if kind == "live-closed":
            entry, self._statuses = {**entry, "statuses": self._statuses}, []
        elif kind == "timings":
            entry = {**entry, "process_started": self.process_started}
        with open(self._environ[FILES[kind]], "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


current: Observer = ReportFiles()
