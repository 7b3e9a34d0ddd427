"""Run engine calls one at a time on a device's worker thread, behind a bounded wait queue.

A job is a callable `work(progress, cancel)`; the worker thread runs it with a progress callback and
the engine's `CancelToken`, so only that thread touches the models on its device. The caller iterates
`job.events()` (`Queued` positions while waiting, then whatever `work` reports) and then reads
`job.result()`, which returns the value of `work` or raises its error.

Cancelling a waiting job removes it from the queue at once; cancelling the running one sets its token,
and the engine stops at its next step check. A job whose deadline passes is cancelled the same way
and ends with `DeadlineExceeded`. Nothing here knows about message formats.

Long jobs do not hold up interactive ones. A job is submitted as `long` (an optimisation of many
steps) or interactive (everything else: regressor passes, previews, edits). Jobs start in their
order of arrival, but a running long job's token, at each of its checks (one per engine step), first
runs the waiting interactive jobs, in the same worker thread, and then carries on: a preview waits
at most one step of a long job and the previews ahead of it, and the long job still takes a step
after at most `max_waiting + 1` of them, however many keep coming. Long jobs wait for each other in
turn.

Memory stays bounded whoever the caller is: a job keeps at most EVENT_BUFFER undelivered progress
events (a slow reader skips the oldest, never the end), the queue lets go of a job, its request and
its result as soon as it ends, and the worker hands freed memory back to the system when it goes idle.
"""
from __future__ import annotations

import collections
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator

from server.engine.errors import Cancelled
from server.engine.progress import CancelToken, Work

EVENT_BUFFER = 16  # undelivered progress events kept per job (with previews, the ones that cost memory)


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


class _StepToken(CancelToken):
    """A long job's token: each check first runs the interactive jobs waiting then (`between_steps`)."""

    def __init__(self, between_steps: Callable[[], None]):
        super().__init__()
        self._between_steps = between_steps

    def check(self):
        super().check()
        self._between_steps()
        super().check()  # it may have been cancelled meanwhile


class Job:
    """One queued call of `work`; created by `JobQueue.submit`."""

    def __init__(self, work: Work, deadline: float | None, owner: "JobQueue", long: bool = False):
        self.work = work
        self.deadline = deadline  # time.monotonic() value, or None
        self.long = long
        self.token = _StepToken(owner._between_steps) if long else CancelToken()
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

    def __init__(self, max_waiting: int, name: str = "worker", prepare: Callable[[], None] | None = None,
                 between_steps: Callable[[], ContextManager] = contextlib.nullcontext):
        """`prepare` runs first in the worker thread (the server sets torch's threads for it there);
        an interactive job that runs at a long job's step check runs inside `between_steps()` (the
        server gives it torch's default grad mode there, whatever mode the long job was in)."""
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self._prepare = prepare
        self._aside = between_steps
        self._cond = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: list[Job] = []  # the job the worker runs, and the one it runs between its steps
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"jobs-{name}", daemon=True)
        self._thread.start()

    def submit(self, work: Work, deadline: float | None = None, long: bool = False) -> Job:
        """Queue `work`; raises QueueFull when `max_waiting` jobs already wait behind the running one.

        With nothing running, the first queued job is about to start, not waiting: it does not count.
        `long`: interactive jobs may run between its steps (see the module's docstring).
        """
        with self._cond:
            if self._closed:
                raise Cancelled("the server is shutting down")
            waiting = len(self._waiting) - (1 if not self._running and self._waiting else 0)
            if waiting >= self.max_waiting and (self._running or self._waiting):
                raise QueueFull(f"the job queue is full ({waiting} jobs waiting, "
                                f"queue size {self.max_waiting}); try again later")
            job = Job(work, deadline, self, long)
            self._waiting.append(job)
            self._announce_positions()
            self._cond.notify_all()
            return job

    @property
    def running(self) -> bool:
        """Whether the worker is running a job now."""
        with self._cond:
            return bool(self._running)

    @property
    def length(self) -> int:
        """Jobs running or waiting."""
        with self._cond:
            return len(self._waiting) + len(self._running)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs or waits; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running and not self._waiting, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new jobs, cancel every job, wait up to `timeout` s for the worker; True if it stopped."""
        with self._cond:
            self._closed = True
            jobs = [*self._waiting, *self._running]
        for job in jobs:
            job.cancel(Cancelled("the server is shutting down"))
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------- internals

    def _start_order(self) -> list[Job]:
        """The waiting jobs in the order they will start. A running long job lets every interactive
        job start before the next long one; otherwise the queue's order holds up to its first long
        job, which then does the same when it runs."""
        order: list[Job] = []
        if not any(job.long for job in self._running):
            for job in self._waiting:
                order.append(job)
                if job.long:
                    break
        rest = list(self._waiting)[len(order):]
        return order + [job for job in rest if not job.long] + [job for job in rest if job.long]

    def _announce_positions(self) -> None:
        ahead = len(self._running)
        for index, job in enumerate(self._start_order()):
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
            elif job in self._running:
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
                job = self._waiting.popleft()
                self._running.append(job)
                self._announce_positions()
            self._execute(job)
            del job  # the next job may be long in coming: hold nothing of this one

    def _execute(self, job: Job) -> None:
        """Run a started job in the worker thread and hand its end to its caller."""
        done = job._run()
        with self._cond:  # free before the caller hears of the end: its next call finds room
            self._running.remove(job)
            self._announce_positions()
            self._cond.notify_all()
        job._events.put(done)
        del done

    def _between_steps(self) -> None:
        """Run the waiting interactive jobs in order, and those that arrive meanwhile (a long job's
        checks call this, in the worker thread), until none waits or `max_waiting + 1` have run: the
        long job takes its next step then, however many keep coming."""
        for _ in range(self.max_waiting + 1):
            with self._cond:
                job = next((job for job in self._waiting if not job.long), None)
                if job is None:
                    return
                self._waiting.remove(job)
                self._running.append(job)
                self._announce_positions()
            with self._aside():
                self._execute(job)
