"""Run engine calls one at a time on a device's worker thread, behind a bounded wait queue.

A job is a callable `work(progress, cancel)`; the worker thread runs it with a progress callback and
the engine's `CancelToken`, so only that thread touches the models on its device. The caller iterates
`job.events()` (`Queued` positions while waiting, then whatever `work` reports) and then reads
`job.result()`, which returns the value of `work` or raises its error.

Cancelling a waiting job removes it from the queue at once; cancelling the running one sets its token,
and the engine stops at its next step check. A job whose deadline passes is cancelled the same way
and ends with `DeadlineExceeded`. Nothing here knows about message formats.

Memory stays bounded whoever the caller is: a job keeps at most EVENT_BUFFER undelivered progress
events (a slow reader skips the oldest, never the end), and the queue lets go of a job, its request
and its result as soon as it ends.
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from server.engine.errors import Cancelled
from server.engine.progress import CancelToken


Work = Callable[[Callable[[Any], None], CancelToken], Any]
EVENT_BUFFER = 16  # undelivered progress events kept per job (with previews, the ones that cost memory)


def _libc_malloc_trim():
    """glibc's malloc_trim, or None (another C library, another system)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def return_freed_memory() -> None:
    """Give the memory a finished job freed back to the system: glibc keeps large freed blocks in its
    heap (its mmap threshold grows with use), so without this a big request's RSS would stay."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class QueueFull(Exception):
    """The queue already holds `max_waiting` waiting jobs."""


class DeadlineExceeded(Cancelled):
    """The job's deadline passed before it finished."""


@dataclass(frozen=True)
class Queued:
    position: int  # jobs running or waiting ahead of this one (0: it starts next)


@dataclass(frozen=True)
class _Done:
    value: Any = None
    error: BaseException | None = None


class _Events:
    """A job's events on their way to its caller: at most `capacity` progress events wait (the oldest
    is dropped for a new one), and the final _Done is always kept."""

    def __init__(self, capacity: int = EVENT_BUFFER):
        self._items: collections.deque = collections.deque()
        self._capacity = capacity
        self._cond = threading.Condition()

    def put(self, item) -> None:
        with self._cond:
            if len(self._items) >= self._capacity and not isinstance(self._items[0], _Done):
                self._items.popleft()
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None):
        """The next event; None when `timeout` seconds pass first."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout):
                return None
            return self._items.popleft()


class Job:
    """One queued call of `work`; created by `JobQueue.submit`."""

    def __init__(self, work: Work, deadline: float | None, owner: "JobQueue"):
        self.work = work
        self.deadline = deadline  # time.monotonic() value, or None
        self.token = CancelToken()
        self.submitted = time.monotonic()
        self.started: float | None = None
        self._owner = owner
        self._events = _Events()
        self._position: int | None = None
        self._reason: Cancelled | None = None  # why it was cancelled
        self._done: _Done | None = None  # set by the consumer on the first _Done it reads

    @property
    def queue_seconds(self) -> float:
        return (self.started or time.monotonic()) - self.submitted

    def cancel(self, reason: Cancelled | None = None) -> None:
        """Stop the job (no-op once it has ended). Safe from any thread, e.g. a gRPC callback."""
        self._owner._cancel(self, reason or Cancelled("cancelled by the caller"))

    def events(self) -> Iterator[Any]:
        """Queued and progress events until the job ends; enforces the deadline while it waits."""
        while self._done is None:
            timeout = None
            if self.deadline is not None and self._reason is None:
                timeout = max(self.deadline - time.monotonic(), 0.0)
            item = self._events.get(timeout)
            if item is None:
                self.cancel(DeadlineExceeded("the deadline passed before the job finished"))
                continue
            if isinstance(item, _Done):
                self._done = item
            else:
                yield item

    def result(self) -> Any:
        """The value of `work` once the job has ended (draining the events), or raise its error."""
        for _ in self.events():
            pass
        if self._done.error is not None:
            raise self._done.error
        return self._done.value

    # ---------------------------------------------------------------- called by the owner

    def _announce(self, position: int) -> None:
        if position != self._position:
            self._position = position
            self._events.put(Queued(position))

    def _finish(self, value=None, error: BaseException | None = None) -> None:
        self._events.put(_Done(value, error))

    def _run(self) -> _Done:
        """Run `work` (then let go of it: it holds the request); what to deliver to the caller."""
        self.started = time.monotonic()
        work, self.work = self.work, None
        try:
            if self.deadline is not None and self.started >= self.deadline:
                raise DeadlineExceeded("the deadline passed while the job waited in the queue")
            return _Done(work(self._events.put, self.token))
        except Cancelled as exc:
            return _Done(error=self._reason or exc)
        except Exception as exc:  # reported to the caller; the worker carries on
            return _Done(error=exc)


class JobQueue:
    """One worker thread (for one device) and at most `max_waiting` jobs waiting behind it."""

    def __init__(self, max_waiting: int, name: str = "worker", prepare: Callable[[], None] | None = None):
        """`prepare` runs first in the worker thread (the server sets torch's threads for it there)."""
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self._prepare = prepare
        self._cond = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"jobs-{name}", daemon=True)
        self._thread.start()

    def submit(self, work: Work, deadline: float | None = None) -> Job:
        """Queue `work`; raises QueueFull when `max_waiting` jobs already wait behind the running one.

        With nothing running, the first queued job is about to start, not waiting: it does not count.
        """
        with self._cond:
            if self._closed:
                raise Cancelled("the server is shutting down")
            waiting = len(self._waiting) - (1 if self._running is None and self._waiting else 0)
            if waiting >= self.max_waiting and (self._running is not None or self._waiting):
                raise QueueFull(f"the job queue is full ({waiting} jobs waiting, "
                                f"queue size {self.max_waiting}); try again later")
            job = Job(work, deadline, self)
            self._waiting.append(job)
            self._announce_positions()
            self._cond.notify_all()
            return job

    @property
    def running(self) -> bool:
        """Whether the worker is running a job now."""
        with self._cond:
            return self._running is not None

    @property
    def length(self) -> int:
        """Jobs running or waiting."""
        with self._cond:
            return len(self._waiting) + (self._running is not None)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs or waits; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running is None and not self._waiting, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new jobs, cancel every job, wait up to `timeout` s for the worker; True if it stopped."""
        with self._cond:
            self._closed = True
            jobs = [*self._waiting, *([self._running] if self._running else [])]
        for job in jobs:
            job.cancel(Cancelled("the server is shutting down"))
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------- internals

    def _announce_positions(self) -> None:
        ahead = 1 if self._running is not None else 0
        for index, job in enumerate(self._waiting):
            job._announce(ahead + index)

    def _cancel(self, job: Job, reason: Cancelled) -> None:
        with self._cond:
            if job._reason is not None:
                return
            if job in self._waiting:
                job._reason = reason
                self._waiting.remove(job)
                self._announce_positions()
                self._cond.notify_all()
                job._finish(error=reason)
            elif job is self._running:
                job._reason = reason
                job.token.cancel()

    def _serve(self) -> None:
        if self._prepare is not None:
            self._prepare()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._closed)
                if not self._waiting:
                    return
                job = self._running = self._waiting.popleft()
                self._announce_positions()
            done = job._run()
            with self._cond:  # free before the caller hears of the end: its next call finds room
                self._running = None
                self._cond.notify_all()
            job._events.put(done)
            del job, done  # the next job may be long in coming: hold nothing of this one
            return_freed_memory()
