"""The one worker for calls that follow the artist: Live preview's states of the image and Edit attributes'
slider values. Newest wins: one thread makes one call at a time, and there is one waiting slot, which
the newest job takes, so work never queues up behind the artist.

`interrupt`: a new job also cancels the call in progress (the server drops its job within a step), and
closing does too (Live preview); without it the running call finishes and is delivered (Edit attributes,
whose calls are short and whose first answer is worth showing).

The connection is owned or borrowed. Owned (`connect`): opened for the first job, closed and opened
again after the server went away (UNAVAILABLE), closed when the worker ends. Borrowed (`connection`):
the caller's, never closed here (Edit attributes runs on its action's connection).

With `retry` (seconds to wait, growing) a call that found the server away or busy is tried again by
itself, with the newest job then; jobs coming meanwhile do not shorten the wait, so a server that is
down is not flooded. Everything the worker learns goes to `deliver` as a `Delivery` (in the plug-in
GLib.idle_add: it is handled on GTK's main loop). The worker reports nothing to GIMP's progress bar
(libgimp calls belong to the main thread).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from server.shared.calls import Failure, Status, status_of

from .connection import CallError, Connection, TransportError
from .errors import UserError

Emit = Callable[[object], None]  # a typed event (server.shared.calls, or the caller's own) for the job running
Perform = Callable[[Connection, Any, Emit], None]  # (connection, job, emit): one job's calls
RETRIED = (Status.UNAVAILABLE, Status.BUSY)


@dataclass(frozen=True)
class Delivery:
    """One event of a job: `sent` when its call began, `answered` when the event came (clock seconds)."""
    job: Any
    event: object  # a server.shared.calls event, or the performer's own (Live preview's Connected)
    sent: float = 0.0
    answered: float = 0.0


class NewestWins:
    """`submit(job)` puts a job in the waiting slot (replacing one waiting there); `perform(connection,
    job, emit)` runs it in the worker's thread, emitting its events."""

    def __init__(self, perform: Perform, deliver: Callable[[Delivery], None], *,
                 connect: Optional[Callable[[], Connection]] = None, connection: Optional[Connection] = None,
                 interrupt: bool = True, retry: tuple = (), clock: Callable[[], float] = time.monotonic,
                 name: str = "gan-collage-calls"):
        if (connect is None) == (connection is None):
            raise ValueError("give either `connect` (an owned connection) or `connection` (a borrowed one)")
        self._perform, self._deliver, self._connect = perform, deliver, connect
        self._connection, self._interrupt, self._retry, self._clock = connection, interrupt, retry, clock
        self._waiting: Optional[Any] = None
        self._running = False
        self._closing = False
        self._failures = 0
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def owns_connection(self) -> bool:
        return self._connect is not None

    def submit(self, job: Any) -> None:
        with self._wake:  # held while cancelling: the worker cannot start the new job's call meanwhile
            self._waiting = job
            self._wake.notify()
            if self._interrupt and self._running:
                self.cancel()

    def cancel(self) -> None:
        """Stop the running call (from any thread): it fails CANCELLED, and the server drops its job at once."""
        connection = self._connection
        if connection is not None:
            connection.client.cancel()

    def close(self, wait: float = 10.0) -> None:
        """Stop: waiting work is dropped, the running call cancelled (with `interrupt`) or awaited, an owned
        connection closed."""
        with self._wake:
            self._closing = True
            self._waiting = None
            self._wake.notify()
        if self._interrupt:
            self.cancel()
        self._thread.join(wait)

    def _next(self) -> Optional[Any]:
        with self._wake:
            self._running = False
            while self._waiting is None and not self._closing:
                self._wake.wait()
            if self._closing:
                return None
            job, self._waiting = self._waiting, None
            self._running = True
            return job

    def _work(self) -> None:
        try:
            while (job := self._next()) is not None:
                self._run(job)
        finally:
            if self.owns_connection and self._connection is not None:
                self._connection.close()

    def _run(self, job: Any) -> None:
        sent = self._clock()

        def emit(event) -> None:
            self._deliver(Delivery(job, event, sent, self._clock()))

        try:
            if self._connection is None:
                self._connection = self._connect()
            self._perform(self._connection, job, emit)
            self._failures = 0
        except (CallError, UserError, TransportError) as error:  # TransportError: no gRPC stack, never retried
            self._failed(job, error, emit)

    def _failed(self, job: Any, error: Exception, emit: Emit) -> None:
        status = status_of(error)
        with self._wake:
            superseded = self._waiting is not None or self._closing
        if status is Status.CANCELLED and superseded:
            return  # a newer job (or closing) took its place
        if not self._retry or status not in RETRIED:
            emit(Failure(error))
            return
        if status is Status.UNAVAILABLE and self.owns_connection and self._connection is not None:
            self._connection.close()
            self._connection = None
        wait = self._retry[min(self._failures, len(self._retry) - 1)]
        self._failures += 1
        emit(Failure(error, wait))
        with self._wake:  # only closing cuts the wait short
            self._wake.wait_for(lambda: self._closing, timeout=wait)
            if self._waiting is None and not self._closing:
                self._waiting = job  # nothing newer came: the same job again
