"""Edit attributes' live preview: EditLatent for the newest slider values, in a worker thread.

One call at a time: values asked while a call runs replace each other, and only the newest is sent when
it ends, so dragging a slider never queues work on the server. Each answer goes to `deliver(shown, key,
answer, error)` (GLib.idle_add in the dialog: `shown` then runs in GTK's main loop). `close` waits for
the call in progress, so the plug-in's connection is only ever used by one thread at a time. The worker
reports nothing to GIMP's progress bar (libgimp calls belong to the main thread).
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from . import attributes
from .connection import CallError
from .errors import UserError
from .latent_parasite import Stored
from .session import Session


class Previews:
    """`ask((edits, rows))`: edits as ((name, strength), ...); `shown(key, answer, error)` gets EditLatent's
    answer and None, or None and the CallError or UserError that stopped it."""

    def __init__(self, session: Session, stored: Stored, first: str, shown: Callable, deliver: Callable):
        self._session = dataclasses.replace(session, report=lambda text, fraction: None)
        self._stored, self._first = stored, first
        self._shown, self._deliver = shown, deliver
        self._wanted = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="gan-collage-preview", daemon=True)
        self._thread.start()

    def ask(self, key: tuple) -> None:
        with self._wake:
            self._wanted = key
            self._wake.notify()

    def close(self) -> None:
        """Stop after the call in progress (if any)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    def _work(self) -> None:
        while True:
            with self._wake:
                while self._wanted is None and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                key, self._wanted = self._wanted, None
            edits, rows = key
            try:  # no edits: one of strength 0, the unedited image bit for bit
                answer, error = attributes.apply(self._session, self._stored, list(edits) or [(self._first, 0.0)],
                                                 rows), None
            except (CallError, UserError) as exc:
                answer, error = None, exc
            self._deliver(self._shown, key, answer, error)
