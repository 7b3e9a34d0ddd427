"""Live preview's flow control, on plain data: no GIMP, no GTK (tests/plugin/test_live_controller.py drives it).

The window (live_window.py) calls `LiveController.poll` a few times a second on GTK's main loop. A
poll first takes a cheap probe of the image (the layers' places, sizes, opacities and GIMP's own
thumbnails of them inside the region: gimp_io.probe_canvas); when it changed, or a second has passed,
it reads the image as Realize would send it. That read decides: its signature is a hash of the whole
request, so the layer list, offsets, visibility, opacity, masks, the selection's region, the pixels
inside it at the model's scale and the window's settings all count, and nothing else does. A new
signature starts a request on the newest-wins worker (newest_wins.py), which owns the connection
here: a change while a call runs cancels it (the server drops the job within one step) and its
answer, if it still comes, is dropped. When the server cannot be reached the worker waits before
trying again (RETRY_SECONDS, growing), with the newest state then, and says so. Each new connection
asks the server's info and models before anything else (a restarted server may serve other models):
the window hears `Connected` again.

Deliveries come back through `deliver` (GLib.idle_add in the window: they are handled on the main loop,
where the controller's state lives) to the `View`.
"""
from __future__ import annotations

import enum
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from server.shared.calls import Failure, Progress, Result

from .connection import Connection
from .errors import UserError
from .newest_wins import Delivery, NewestWins

RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)  # waits before reconnecting, then 5 s each time
RECHECK_SECONDS = 1.0       # a full read at least this often, whatever the probe says
PREVIEW_TIMEOUT = 120.0     # seconds a preview call may take (the first one may load the model)


def signature(value) -> str:
    """A hash of a request dict (bytes hashed as they are, keys in order): equal requests, equal hashes."""
    digest = hashlib.blake2b(digest_size=16)

    def feed(item) -> None:
        if isinstance(item, dict):
            digest.update(b"{")
            for key in sorted(item):
                digest.update(key.encode() + b":")
                feed(item[key])
            digest.update(b"}")
        elif isinstance(item, (list, tuple)):
            digest.update(b"[")
            for entry in item:
                feed(entry)
            digest.update(b"]")
        elif isinstance(item, (bytes, bytearray, memoryview)):
            digest.update(b"b%d:" % len(item))
            digest.update(item)
        else:
            digest.update(repr(item).encode() + b";")

    feed(value)
    return digest.hexdigest()


class JobKind(enum.Enum):
    HELLO = "hello"      # the first questions: the server's info and models
    PREVIEW = "preview"  # Realize of one state of the image
    REFINE = "refine"    # optimization from the shown preview's latent


@dataclass
class Job:
    """One job for the worker."""
    kind: JobKind
    generation: int
    request: dict = field(default_factory=dict)
    signature: str = ""
    detected: float = 0.0          # when the poll that found this state started (clock seconds)
    read_seconds: float = 0.0      # how long that poll's read took
    timeout: float = PREVIEW_TIMEOUT


@dataclass(frozen=True)
class Connected:
    """The server's info and models, asked on a new connection before its first call."""
    info: dict
    models: list


def perform(connection: Connection, job: Job, emit) -> None:
    """A job's calls on the worker's thread: the server's info and models first on a new connection."""
    if not connection.introduced:
        emit(Connected(connection.info(job.timeout), connection.models(job.timeout)))
    if job.kind is JobKind.HELLO:
        return
    result = None
    for event in connection.events("Realize", job.request, job.timeout):
        if isinstance(event, Progress):
            emit(event)
        else:
            result = event  # delivered once the call has ended: the next job never meets its tail
    emit(result)


class View(Protocol):
    """What the controller tells the window (all on the main loop)."""

    def connected(self, info: dict, models: list) -> None: ...
    def updating(self) -> None: ...
    def preview(self, result: dict, timings: dict) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def failed(self, error: Exception, retry_in: float) -> None: ...
    def refined(self, result: dict) -> None: ...


class LiveController:
    """The main loop's side: `poll` finds changes, `handle` takes the worker's deliveries.

    `read()` gives the Realize request for the image as it is now (UserError: nothing to realize);
    `probe()`, when given, a cheap value that changes with it (gimp_io.probe_canvas): while it stays the
    same a poll reads nothing, except once every `recheck` seconds (the probe is a stand-in, the read is
    the truth). `deliver(handle, delivery)` runs `handle(delivery)` on the main loop (GLib.idle_add).
    """

    def __init__(self, read: Callable[[], dict], view: View, connect: Callable[[], Connection],
                 deliver: Callable[[Callable, Delivery], object], clock: Callable[[], float] = time.monotonic,
                 retry: tuple = RETRY_SECONDS, probe: Optional[Callable[[], object]] = None,
                 recheck: float = RECHECK_SECONDS):
        self._read, self._view, self._clock = read, view, clock
        self._probe, self._recheck = probe, recheck
        self._probed: object = None
        self._read_at = -math.inf
        self.reads = 0                # full reads of the image
        self.rechecks = 0             # of them, those the probe did not ask for
        self._generation = 0
        self._asked = ""              # the signature of the newest state asked for
        self._shown: Optional[Job] = None
        self.ready = False            # hello answered: polls may read the image
        self.refining: Optional[Job] = None
        self.shown_result: Optional[dict] = None
        self.shown_request: Optional[dict] = None
        self.dropped = 0              # answers for states that had changed meanwhile
        self.worker = NewestWins(perform, lambda delivery: deliver(self.handle, delivery), connect=connect,
                                 retry=retry, clock=clock, name="gan-collage-live")
        self.worker.submit(self._job(JobKind.HELLO))

    def _job(self, kind: JobKind, **values) -> Job:
        self._generation += 1
        return Job(kind, self._generation, **values)

    @property
    def current(self) -> bool:
        """Whether the preview shown is for the newest state asked for."""
        return self._shown is not None and self._shown.signature == self._asked

    def poll(self) -> float:
        """Read the image; ask for a preview when it changed. The read's seconds (the window spaces its
        polls by them)."""
        if not self.ready or self.refining is not None:
            return 0.0
        started = self._clock()
        if self._probe is not None:
            try:
                probed = self._probe()
            except UserError:  # the read says what is wrong
                probed = None
            if probed is not None and probed == self._probed:
                if started - self._read_at < self._recheck:
                    return self._clock() - started
                self.rechecks += 1
            self._probed = probed
        self._read_at = started
        self.reads += 1
        try:
            request = self._read()
        except UserError as problem:
            text = str(problem)
            if self._asked != text:
                self._asked = text
                self._view.failed(problem, 0.0)
            return self._clock() - started
        seconds = self._clock() - started
        key = signature(request)
        if key != self._asked:
            self._asked = key
            self._view.updating()
            self.worker.submit(self._job(JobKind.PREVIEW, request=request, signature=key, detected=started,
                                         read_seconds=seconds))
        return seconds

    def refine(self, request: dict, timeout: float) -> None:
        """Optimize (as `request` says, from the shown preview's latent); polls stop until it ends."""
        self.refining = self._job(JobKind.REFINE, request=request, timeout=timeout)
        self.worker.submit(self.refining)

    def cancel_refine(self) -> None:
        if self.refining is not None:
            self.worker.cancel()

    def handle(self, delivery: Delivery) -> bool:
        """A delivery from the worker, on the main loop (False: GLib.idle_add runs it once)."""
        job, event = delivery.job, delivery.event
        if isinstance(event, Connected):
            self.ready = True
            self._view.connected(event.info, event.models)
        elif job.kind is JobKind.HELLO:
            if isinstance(event, Failure):
                self._view.failed(event.error, event.retry_in)
        elif job.kind is JobKind.REFINE:
            self._refine_delivery(job, event)
        elif job.generation != self._generation or job.signature != self._asked:
            if isinstance(event, Result):
                self.dropped += 1  # the image changed meanwhile: a newer preview is on its way
        elif isinstance(event, Result):
            self._shown, self.shown_result, self.shown_request = job, event.payload, job.request
            metrics = event.payload.get("metrics", {})
            self._view.preview(event.payload, {
                "read": job.read_seconds, "dispatch": delivery.sent - job.detected - job.read_seconds,
                "call": delivery.answered - delivery.sent, "server": metrics.get("seconds", 0.0),
                "queue": metrics.get("queue_seconds", 0.0), "detected": job.detected,
                "answered": delivery.answered})
        elif isinstance(event, Failure):
            self._view.failed(event.error, event.retry_in)
        return False

    def _refine_delivery(self, job: Job, event) -> None:
        if job is not self.refining:
            return
        if isinstance(event, Progress):
            self._view.progress(event)
            return
        self.refining = None
        self._asked = ""  # the next poll asks for a preview of the image as it is then
        if isinstance(event, Result):
            self._view.refined(event.payload)
        elif isinstance(event, Failure):
            self._view.failed(event.error, 0.0)

    def close(self) -> None:
        self.worker.close()
