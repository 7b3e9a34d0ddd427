"""The one hook for test instrumentation: what dialogs, windows and runs report to tests and benchmarks.

Code that has something to report calls `current.record(kind, entry)`; kinds:

- "dialog": what a dialog showed (its controls, a refusal);
- "timings": one run's phases (the click-to-layer benchmark);
- "live-status", "live-preview": Live preview's status texts and each preview's timings, as they happen;
  "live-closed": its values, models and counts as it closes;
- "edit-preview": the edits of each preview Edit attributes showed, as it shows them; "edit-closed": its
  sliders and the rows chosen as it closes.

The default, `ReportFiles`, appends JSON lines to the files $GAN_COLLAGE_DIALOG_REPORT (the dialogs and
windows) and $GAN_COLLAGE_TIMINGS ("timings") name, and does nothing without them; a window's closing
line gets what it reported as it went (COLLECTED: the live window's status texts, the edit dialog's
previews), so the windows themselves keep no list that grows while they are open. Tests that drive a
window themselves set `current` to an observer of their own. Nothing here is kept unless a report file
is named.
"""
from __future__ import annotations

import json
import os
import time
from typing import Protocol

REPORT_ENV = "GAN_COLLAGE_DIALOG_REPORT"
TIMINGS_ENV = "GAN_COLLAGE_TIMINGS"
FILES = {"dialog": REPORT_ENV, "live-status": REPORT_ENV, "live-closed": REPORT_ENV, "edit-preview": REPORT_ENV,
         "edit-closed": REPORT_ENV, "timings": TIMINGS_ENV}
COLLECTED = {"live-status": ("live-closed", "statuses"), "edit-preview": ("edit-closed", "previews")}  # kind: (the
# closing kind whose line gets them, under this key)


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
        self._collected: dict = {}  # COLLECTED kind: entries, until their window closes (only while a file is named)

    def watching(self, kind: str) -> bool:
        return kind in FILES and bool(self._environ.get(FILES[kind]))

    def record(self, kind: str, entry) -> None:
        if not self.watching(kind):
            return
        if kind in COLLECTED:
            self._collected.setdefault(kind, []).append(entry)
            return
        for collected, (closing, key) in COLLECTED.items():
            if kind == closing:
                entry = {**entry, key: self._collected.pop(collected, [])}
        if kind == "timings":
            entry = {**entry, "process_started": self.process_started}
        with open(self._environ[FILES[kind]], "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


current: Observer = ReportFiles()
