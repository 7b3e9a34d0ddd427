"""Live preview's flow control, on plain data: no GIMP, no GTK (tests/test_live_controller.py drives it).

The window (live_window.py) calls `LiveController.poll` a few times a second on GTK's main loop. A
poll first takes a cheap probe of the image (the layers' places, sizes, opacities and GIMP's own
thumbnails of them inside the region: gimp_io.probe_canvas); when it changed, or a second has passed,
it reads the image as Realize would send it. That read decides: its signature is a hash of the whole
request, so the layer list, offsets, visibility, opacity, masks, the selection's region, the pixels
inside it at the model's scale and the window's settings all count, and nothing else does. A new
signature starts a request; one worker thread owns the connection and makes one call at a
time. A change while a call runs makes the next call use the newest state: the running call is
cancelled (the server drops the job within one step) and its answer, if it still comes, is dropped.
Waiting states never queue up: there is one slot, and the newest state takes it.

When the server cannot be reached the worker waits before trying again (RETRY_SECONDS, growing), with
the newest state then, and says so; changes meanwhile do not shorten the wait, so a server that is
down is not flooded. Each new connection asks the server's info and models again before anything else
(a restarted server may serve other models).

Answers come back through `deliver` (GLib.idle_add in the window: they are handled on the main loop,
where the controller's state lives) to the `View`.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from .connection import CallError, Client, TransportError
from .errors import UserError

RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)  # waits before reconnecting, then 5 s each time
RECHECK_SECONDS = 1.0       # a full read at least this often, whatever the probe says
RETRIED = ("UNAVAILABLE",)  # the server is down or restarting: try again later
BUSY = "queue is full"      # RESOURCE_EXHAUSTED with this: busy, also worth a later try
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


@dataclass
class Job:
    """One call: a preview of one state of the image, a refinement, or the first questions (hello)."""
    kind: str                      # "hello" | "preview" | "refine"
    generation: int
    request: dict = field(default_factory=dict)
    signature: str = ""
    detected: float = 0.0          # when the poll that found this state started (clock seconds)
    read_seconds: float = 0.0      # how long that poll's read took
    timeout: float = PREVIEW_TIMEOUT


@dataclass
class Outcome:
    """What the worker reports: a result, a progress step, or an error (with `retry_in` when it tries
    again by itself)."""
    job: Job
    result: Optional[dict] = None
    progress: Optional[dict] = None
    error: Optional[Exception] = None
    retry_in: float = 0.0
    sent: float = 0.0              # clock seconds when the call began
    answered: float = 0.0          # and when its answer (or error) came


def _only(client: Client, name: str, request: dict, timeout: float) -> dict:
    (event,) = client.call(name, request, timeout)
    return event[event["event"]]


class CallWorker:
    """One thread with one connection; `submit` puts a job in the single waiting slot (replacing one
    waiting there) and cancels the running call unless told not to."""

    def __init__(self, connect: Callable[[], Client], deliver: Callable[[Outcome], None],
                 clock: Callable[[], float] = time.monotonic, retry: tuple = RETRY_SECONDS):
        self._connect, self._deliver, self._clock, self._retry = connect, deliver, clock, retry
        self._client: Optional[Client] = None
        self._waiting: Optional[Job] = None
        self._running: Optional[Job] = None
        self._closing = False
        self._failures = 0
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="gan-collage-live", daemon=True)
        self._thread.start()

    def submit(self, job: Job, supersede: bool = True) -> None:
        with self._wake:
            self._waiting = job
            running = self._running
            self._wake.notify()
        if supersede and running is not None and running.kind != "hello":
            self.cancel()

    def cancel(self) -> None:
        """Stop the running call (from any thread): the server drops its job at once."""
        client = self._client
        if client is not None:
            client.cancel()

    def close(self, wait: float = 10.0) -> None:
        """Stop: the running call is cancelled, waiting work dropped, the connection closed."""
        with self._wake:
            self._closing = True
            self._waiting = None
            self._wake.notify()
        self.cancel()
        self._thread.join(wait)

    def _next(self) -> Optional[Job]:
        with self._wake:
            while self._waiting is None and not self._closing:
                self._wake.wait()
            if self._closing:
                return None
            job, self._waiting = self._waiting, None
            self._running = job
            return job

    def _pause(self, seconds: float) -> None:
        """Wait before trying again; only closing cuts it short (new states wait in the slot)."""
        with self._wake:
            self._wake.wait_for(lambda: self._closing, timeout=seconds)

    def _work(self) -> None:
        try:
            while (job := self._next()) is not None:
                self._run(job)
                with self._wake:
                    self._running = None
        finally:
            if self._client is not None:
                self._client.close()

    def _run(self, job: Job) -> None:
        sent = self._clock()
        try:
            if self._client is None:
                self._client = self._connect()
                if job.kind != "hello":  # a new connection after a lost one: the server may have other models now
                    hello = Job("hello", 0)
                    self._deliver(Outcome(hello, result=self._perform(hello, sent), sent=sent, answered=self._clock()))
            result = self._perform(job, sent)
            self._failures = 0
            self._deliver(Outcome(job, result=result, sent=sent, answered=self._clock()))
        except CallError as error:
            self._failed(job, error, sent)
        except TransportError as error:  # no usable gRPC stack: trying again cannot help
            self._deliver(Outcome(job, error=error, sent=sent, answered=self._clock()))

    def _perform(self, job: Job, sent: float) -> dict:
        client = self._client
        if job.kind == "hello":
            return {"info": _only(client, "GetServerInfo", {}, job.timeout),
                    "models": _only(client, "ListModels", {}, job.timeout)["models"]}
        result = None
        for event in client.call("Realize", job.request, job.timeout):
            if event["event"] == "progress":
                self._deliver(Outcome(job, progress=event["progress"], sent=sent, answered=self._clock()))
            else:
                result = event["result"]
        return result

    def _failed(self, job: Job, error: CallError, sent: float) -> None:
        with self._wake:
            superseded = self._waiting is not None or self._closing
        if error.code == "CANCELLED" and superseded:
            return  # a newer state (or closing) took its place
        retried = error.code in RETRIED or (error.code == "RESOURCE_EXHAUSTED" and BUSY in error.message)
        if not retried:
            self._deliver(Outcome(job, error=error, sent=sent, answered=self._clock()))
            return
        if error.code in RETRIED and self._client is not None:
            self._client.close()
            self._client = None
        wait = self._retry[min(self._failures, len(self._retry) - 1)]
        self._failures += 1
        self._deliver(Outcome(job, error=error, retry_in=wait, sent=sent, answered=self._clock()))
        self._pause(wait)
        with self._wake:
            if self._waiting is None and not self._closing:
                self._waiting = job  # nothing newer came: the same state again


class View(Protocol):
    """What the controller tells the window (all on the main loop)."""

    def connected(self, info: dict, models: list) -> None: ...
    def updating(self) -> None: ...
    def preview(self, result: dict, timings: dict) -> None: ...
    def progress(self, progress: dict) -> None: ...
    def failed(self, error: Exception, retry_in: float) -> None: ...
    def refined(self, result: dict) -> None: ...


class LiveController:
    """The main loop's side: `poll` finds changes, `handle` takes the worker's outcomes.

    `read()` gives the Realize request for the image as it is now (UserError: nothing to realize);
    `probe()`, when given, a cheap value that changes with it (gimp_io.probe_canvas): while it stays the
    same a poll reads nothing, except once every `recheck` seconds (the probe is a stand-in, the read is
    the truth). `deliver(handle, outcome)` runs `handle(outcome)` on the main loop (GLib.idle_add).
    """

    def __init__(self, read: Callable[[], dict], view: View, connect: Callable[[], Client],
                 deliver: Callable[[Callable, Outcome], object], clock: Callable[[], float] = time.monotonic,
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
        self.worker = CallWorker(connect, lambda outcome: deliver(self.handle, outcome), clock, retry)
        self.worker.submit(self._job("hello"))

    def _job(self, kind: str, **values) -> Job:
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
            self.worker.submit(self._job("preview", request=request, signature=key, detected=started,
                                         read_seconds=seconds))
        return seconds

    def refine(self, request: dict, timeout: float) -> None:
        """Optimize (as `request` says, from the shown preview's latent); polls stop until it ends."""
        self.refining = self._job("refine", request=request, timeout=timeout)
        self.worker.submit(self.refining)

    def cancel_refine(self) -> None:
        if self.refining is not None:
            self.worker.cancel()

    def handle(self, outcome: Outcome) -> bool:
        """An outcome from the worker, on the main loop (False: GLib.idle_add runs it once)."""
        job = outcome.job
        if job.kind == "hello":
            self._hello(outcome)
        elif job.kind == "refine":
            self._refine_outcome(outcome)
        elif job.generation != self._generation or job.signature != self._asked:
            if outcome.result is not None:
                self.dropped += 1  # the image changed meanwhile: a newer preview is on its way
        elif outcome.result is not None:
            self._shown, self.shown_result, self.shown_request = job, outcome.result, job.request
            metrics = outcome.result.get("metrics", {})
            self._view.preview(outcome.result, {
                "read": job.read_seconds, "dispatch": outcome.sent - job.detected - job.read_seconds,
                "call": outcome.answered - outcome.sent, "server": metrics.get("seconds", 0.0),
                "queue": metrics.get("queue_seconds", 0.0), "detected": job.detected,
                "answered": outcome.answered})
        elif outcome.error is not None:
            self._view.failed(outcome.error, outcome.retry_in)
        return False

    def _hello(self, outcome: Outcome) -> None:
        if outcome.result is None:
            if outcome.error is not None:
                self._view.failed(outcome.error, outcome.retry_in)
            return
        self.ready = True
        self._view.connected(outcome.result["info"], outcome.result["models"])

    def _refine_outcome(self, outcome: Outcome) -> None:
        if outcome.job is not self.refining:
            return
        if outcome.progress is not None:
            self._view.progress(outcome.progress)
            return
        self.refining = None
        self._asked = ""  # the next poll asks for a preview of the image as it is then
        if outcome.result is not None:
            self._view.refined(outcome.result)
        elif outcome.error is not None:
            self._view.failed(outcome.error, 0.0)

    def close(self) -> None:
        self.worker.close()
