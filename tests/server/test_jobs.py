"""server.jobs without gRPC: order, queue positions, a full queue, cancellation, deadlines."""
from __future__ import annotations

import contextlib
import gc
import threading
import time
import weakref

import pytest

from server.engine.errors import Cancelled
from server.jobs import EVENT_BUFFER, DeadlineExceeded, JobQueue, Queued, QueueFull


class Gate:
    """A job body that reports `started`, then steps until released or cancelled."""

    def __init__(self, value=None):
        self.value = value
        self.started = threading.Event()
        self.release = threading.Event()
        self.steps = 0

    def __call__(self, progress, cancel):
        self.started.set()
        while not self.release.wait(0.005):
            cancel.check()
            self.steps += 1
            progress(("step", self.steps))
        return self.value


@pytest.fixture
def jobs():
    queue = JobQueue(max_waiting=2, name="test")
    yield queue
    queue.close(timeout=5)


def test_runs_jobs_in_order_and_reports_positions(jobs):
    first = Gate("a")
    job_a = jobs.submit(first)
    assert first.started.wait(5)
    job_b = jobs.submit(lambda progress, cancel: "b")
    job_c = jobs.submit(lambda progress, cancel: "c")
    first.release.set()
    assert job_a.result() == "a"
    events_b = list(job_b.events())
    assert job_b.result() == "b" and job_c.result() == "c"
    assert events_b[0] == Queued(1)  # the running job was ahead
    assert jobs.wait_idle(5) and jobs.length == 0 and not jobs.running
    assert job_b.queue_seconds >= 0


def test_full_queue_is_refused_with_its_size(jobs):
    gate = Gate()
    running = jobs.submit(gate)
    assert gate.started.wait(5)
    waiting = [jobs.submit(Gate()) for _ in range(2)]
    with pytest.raises(QueueFull, match=r"queue is full.*queue size 2"):
        jobs.submit(Gate())
    for job in [running, *waiting]:
        job.cancel()
    assert jobs.wait_idle(5)


def test_cancel_waiting_job_moves_the_others_up(jobs):
    gate = Gate()
    running = jobs.submit(gate)
    assert gate.started.wait(5)
    second, third = jobs.submit(Gate()), jobs.submit(Gate())
    second.cancel()
    with pytest.raises(Cancelled):
        second.result()
    positions = []
    for event in third.events():
        if isinstance(event, Queued):
            positions.append(event.position)
            if event.position == 1:
                break
    assert positions == [2, 1]
    running.cancel()
    third.cancel()
    assert jobs.wait_idle(5)


def test_cancel_running_job_stops_it_and_frees_the_worker(jobs):
    gate = Gate()
    job = jobs.submit(gate)
    assert gate.started.wait(5)
    job.cancel()
    with pytest.raises(Cancelled):
        job.result()
    assert jobs.wait_idle(1)
    assert jobs.submit(lambda progress, cancel: 42).result() == 42


def test_deadline_while_running(jobs):
    gate = Gate()
    job = jobs.submit(gate, deadline=time.monotonic() + 0.2)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        job.result()
    assert time.monotonic() - started < 2
    assert jobs.wait_idle(1)


def test_deadline_while_waiting(jobs):
    gate = Gate()
    running = jobs.submit(gate)
    assert gate.started.wait(5)
    waiting = jobs.submit(Gate(), deadline=time.monotonic() + 0.1)
    with pytest.raises(DeadlineExceeded):
        waiting.result()
    assert jobs.length == 1  # it left the queue
    running.cancel()


def test_errors_reach_the_caller_and_the_worker_survives(jobs):
    def broken(progress, cancel):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        jobs.submit(broken).result()
    assert jobs.submit(lambda progress, cancel: "fine").result() == "fine"


def test_progress_events_pass_through(jobs):
    def work(progress, cancel):
        for step in range(3):
            progress(step)
        return "done"

    job = jobs.submit(work)
    events = [e for e in job.events() if not isinstance(e, Queued)]
    assert events == [0, 1, 2] and job.result() == "done"


def test_close_cancels_everything():
    queue = JobQueue(max_waiting=1)
    gate = Gate()
    running = queue.submit(gate)
    assert gate.started.wait(5)
    waiting = queue.submit(Gate())
    queue.close(timeout=5)
    for job in (running, waiting):
        with pytest.raises(Cancelled, match="shutting down"):
            job.result()
    with pytest.raises(Cancelled):
        queue.submit(Gate())


def test_a_slow_reader_gets_the_newest_progress_and_always_the_result(jobs):
    def chatty(progress, cancel):
        for step in range(1000):
            progress(("step", step))
        return "done"

    job = jobs.submit(chatty)
    assert jobs.wait_idle(10)  # nobody read anything while it ran
    events = list(job.events())
    assert len(events) <= EVENT_BUFFER
    assert events[-1] == ("step", 999)  # the oldest were dropped, not the newest
    assert job.result() == "done"


def test_the_job_about_to_start_does_not_count_as_waiting():
    jobs = JobQueue(max_waiting=1, name="test")
    try:
        with jobs._cond:  # hold the worker back: the first job is queued but not yet started
            first = jobs.submit(lambda progress, cancel: "a")
            second = jobs.submit(lambda progress, cancel: "b")  # waits behind it: room for one
            with pytest.raises(QueueFull):
                jobs.submit(lambda progress, cancel: "c")
        assert first.result() == "a" and second.result() == "b"
    finally:
        jobs.close(timeout=5)


def test_a_finished_job_frees_its_slot_before_its_caller_hears_of_it():
    jobs = JobQueue(max_waiting=0, name="test")
    try:
        for _ in range(50):  # a caller that submits again as soon as it has its result is never refused
            assert jobs.submit(lambda progress, cancel: 1).result() == 1
    finally:
        jobs.close(timeout=5)


def test_the_queue_lets_go_of_a_finished_job_and_its_data(jobs):
    class Payload:
        pass

    payload = Payload()
    alive = weakref.ref(payload)
    job = jobs.submit(lambda progress, cancel, data=payload: len([data]))
    del payload
    assert job.result() == 1
    del job
    assert jobs.wait_idle(5)
    gc.collect()
    assert alive() is None  # no next job needed to release it


def test_the_worker_thread_runs_with_the_torch_threads_it_is_given():
    """`python -m server` loads with one torch thread and gives the worker its --threads (rpc/server.py)."""
    import torch

    from server.rpc.server import worker_threads

    assert worker_threads(0) is None
    outside = torch.get_num_threads()
    wanted = 3 if outside != 3 else 2
    queue = JobQueue(max_waiting=1, name="threads", prepare=worker_threads(wanted))
    try:
        job = queue.submit(lambda progress, cancel: (torch.get_num_threads(), threading.current_thread().name))
        assert job.result() == (wanted, "jobs-threads")
    finally:
        queue.close(timeout=5)
    assert torch.get_num_threads() == outside  # the caller's thread keeps its own


# ------------------------------------------------------------------------------------- long and interactive jobs


def test_an_interactive_job_runs_between_a_long_jobs_steps(jobs):
    gate = Gate()
    long = jobs.submit(gate, long=True)
    assert gate.started.wait(5)
    assert jobs.submit(lambda progress, cancel: "preview").result() == "preview"
    assert not gate.release.is_set() and jobs.running  # the long job has not ended
    steps = gate.steps
    time.sleep(0.05)
    assert gate.steps > steps  # and it carries on
    gate.release.set()
    assert long.result() is None


def test_long_jobs_wait_in_turn_and_interactive_ones_pass_them(jobs):
    first, second = Gate("first"), Gate("second")
    running = jobs.submit(first, long=True)
    assert first.started.wait(5)
    waiting = jobs.submit(second, long=True)
    preview = jobs.submit(lambda progress, cancel: "preview")
    assert list(preview.events()) == [Queued(1)]  # ahead of the waiting long job
    assert preview.result() == "preview"
    events = waiting.events()
    assert [next(events), next(events)] == [Queued(1), Queued(2)]  # the preview went ahead of it
    assert not second.started.is_set()
    first.release.set()
    second.release.set()
    assert running.result() == "first" and waiting.result() == "second"


def test_a_long_job_keeps_stepping_while_previews_keep_coming(jobs):
    gate = Gate()
    long = jobs.submit(gate, long=True)
    assert gate.started.wait(5)
    served, stop = [], threading.Event()

    def previews():
        while not stop.is_set():
            try:
                served.append(jobs.submit(lambda progress, cancel: time.sleep(0.002)).result())
            except QueueFull:
                pass

    artists = [threading.Thread(target=previews) for _ in range(2)]
    for artist in artists:
        artist.start()
    steps = gate.steps
    time.sleep(0.3)
    stop.set()
    for artist in artists:
        artist.join(5)
    assert len(served) > 10 and gate.steps > steps + 10
    gate.release.set()
    long.result()


def test_a_job_between_steps_runs_in_the_queues_context_and_can_be_cancelled():
    entered = []

    @contextlib.contextmanager
    def aside():
        entered.append(True)
        yield

    queue = JobQueue(max_waiting=2, name="aside", between_steps=aside)
    try:
        gate, preview = Gate(), Gate("preview")
        long = queue.submit(gate, long=True)
        assert gate.started.wait(5)
        job = queue.submit(preview)
        assert preview.started.wait(5) and entered == [True] and queue.length == 2
        job.cancel()
        with pytest.raises(Cancelled):
            job.result()
        steps = gate.steps
        assert wait_for(lambda: gate.steps > steps)  # the long job resumed
        gate.release.set()
        assert long.result() is None and queue.wait_idle(5)
    finally:
        queue.close(timeout=5)


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()
