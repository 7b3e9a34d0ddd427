"""One way to call the server: a call's typed events and their status (server/shared/calls.py), the
connection that asks the server's info and models once (core/connection.py), and the one newest-wins
worker (core/newest_wins.py) with an owned or a borrowed connection."""
from __future__ import annotations

import queue
import threading

import pytest

from core.connection import Connection
from core.errors import UserError
from core.newest_wins import NewestWins
from server.shared import calls
from server.shared.calls import Failure, Progress, Result, Status
from server.shared.errors import CallError


class Canned:
    """Answers each call with these events and counts the calls by name."""

    def __init__(self, **answers):
        self.answers, self.asked = answers, []

    def call(self, name, request, timeout=None):
        self.asked.append(name)
        yield from self.answers[name]


def test_a_calls_events_are_typed_and_say_its_status():
    client = Canned(Realize=[{"event": "progress", "progress": {"stage": "queued", "queue_position": 1}},
                             {"event": "progress", "progress": {"stage": "optimize", "step": 3, "total": 12}},
                             {"event": "result", "result": {"layer": "x"}}],
                    Interpolate=[{"event": "frame", "frame": {"index": 0}}, {"event": "frame", "frame": {"index": 1}}])
    queued, working, result = calls.events(client, "Realize", {}, 5)
    assert queued == Progress("queued", 0, 0, 1) and queued.status is Status.QUEUED and queued.fraction == 0.0
    assert queued.jobs_ahead() == "1 job ahead" and Progress(queue_position=3).jobs_ahead() == "3 jobs ahead"
    assert working.status is Status.WORKING and working.fraction == 0.25
    assert result == Result({"layer": "x"}) and result.status is Status.DONE
    seen = []
    assert calls.payloads(calls.events(client, "Interpolate", {}, 5), seen.append) == [{"index": 0}, {"index": 1}]
    assert calls.payloads(calls.events(client, "Realize", {}, 5), seen.append) == [{"layer": "x"}]
    assert [progress.stage for progress in seen] == ["queued", "optimize"]


@pytest.mark.parametrize("error, status", [
    (CallError("CANCELLED", "cancelled by the client"), Status.CANCELLED),
    (CallError("UNAVAILABLE", "connection refused"), Status.UNAVAILABLE),
    (CallError("RESOURCE_EXHAUSTED", f"the {calls.BUSY}: 8 jobs waiting"), Status.BUSY),
    (CallError("RESOURCE_EXHAUSTED", "the request holds 900 megapixels"), Status.FAILED),  # too big: no retry
    (CallError("INVALID_ARGUMENT", "edits[0].strength"), Status.FAILED),
    (UserError("There is nothing to realize"), Status.FAILED),
])
def test_a_failures_status_follows_its_error(error, status):
    assert Failure(error).status is status and calls.status_of(error) is status


def test_the_servers_info_and_models_are_asked_once_per_connection():
    client = Canned(GetServerInfo=[{"event": "result", "result": {"version": "1"}}],
                    ListModels=[{"event": "result", "result": {"models": [{"name": "default"}]}}])
    connection = Connection(client)
    assert not connection.introduced and not connection.answered
    assert connection.info(5) == {"version": "1"} and connection.info(5) is connection.info(5)
    assert not connection.introduced
    assert connection.models(5) == connection.models(5) == [{"name": "default"}]
    assert client.asked == ["GetServerInfo", "ListModels"] and connection.introduced and connection.answered
    again = Connection(client)  # a new connection: the server may have restarted with other models
    again.models(5)
    assert client.asked == ["GetServerInfo", "ListModels", "ListModels"] and not again.introduced


# ------------------------------------------------------------------------------------ the newest-wins worker


class Held:
    """Each call waits until `release` is set or it is cancelled; `sent` lists the jobs' numbers."""

    def __init__(self, unavailable: int = 0):
        self.sent, self.closed, self.unavailable = [], 0, unavailable
        self.release, self.started = threading.Event(), threading.Event()
        self._stop: threading.Event | None = None

    def call(self, name, request, timeout=None):
        self.sent.append(request["n"])
        if self.unavailable:
            self.unavailable -= 1
            raise CallError("UNAVAILABLE", "connection refused")
        self._stop = stop = threading.Event()
        self.started.set()
        while not (stop.is_set() or self.release.wait(0.005)):
            pass
        if stop.is_set():
            raise CallError("CANCELLED", "cancelled by the client")
        yield {"event": "result", "result": {"n": request["n"]}}

    def cancel(self):
        if self._stop is not None:
            self._stop.set()

    def close(self):
        self.closed += 1


def perform(connection, job, emit):
    for event in connection.events("Realize", {"n": job}, 10):
        emit(event)


def results(deliveries: queue.Queue, count: int) -> list:
    """(job, payload's n or the failure's status) of the next `count` deliveries."""
    got = []
    for _ in range(count):
        delivery = deliveries.get(timeout=10)
        event = delivery.event
        got.append((delivery.job, event.payload["n"] if isinstance(event, Result) else event.status))
    return got


def test_the_newest_job_takes_the_one_waiting_slot_and_a_borrowed_connection_stays_open():
    client, deliveries = Held(), queue.Queue()
    worker = NewestWins(perform, deliveries.put, connection=Connection(client), interrupt=False)
    worker.submit(1)
    assert client.started.wait(10)
    for job in (2, 3, 4):  # while 1 runs: each replaces the one waiting
        worker.submit(job)
    client.release.set()
    assert results(deliveries, 2) == [(1, 1), (4, 4)]  # without interrupt the running call finishes
    worker.close()
    assert client.sent == [1, 4] and deliveries.empty() and client.closed == 0  # borrowed: the caller closes it


def test_a_superseded_call_is_cancelled_and_says_nothing_and_an_owned_connection_is_closed():
    client, deliveries = Held(), queue.Queue()
    worker = NewestWins(perform, deliveries.put, connect=lambda: Connection(client))
    worker.submit(1)
    assert client.started.wait(10)
    worker.submit(2)  # cancels 1 at once
    while len(client.sent) < 2:
        assert deliveries.empty()
        threading.Event().wait(0.005)
    client.release.set()
    assert results(deliveries, 1) == [(2, 2)]
    worker.close()
    assert client.sent == [1, 2] and deliveries.empty() and client.closed == 1


def test_closing_cancels_the_running_call_only_with_interrupt():
    for interrupt, delivered in ((True, []), (False, [(1, 1)])):
        client, deliveries = Held(), queue.Queue()
        worker = NewestWins(perform, deliveries.put, connect=lambda: Connection(client), interrupt=interrupt)
        worker.submit(1)
        assert client.started.wait(10)
        threading.Timer(0.2, client.release.set).start()
        worker.close()
        assert results(deliveries, len(delivered)) == delivered and deliveries.empty() and client.closed == 1


def test_a_server_away_is_tried_again_on_a_new_owned_connection_and_on_the_same_borrowed_one():
    opened, deliveries = [], queue.Queue()
    client = Held(unavailable=2)
    client.release.set()

    def connect():
        opened.append(Connection(client))
        return opened[-1]

    worker = NewestWins(perform, deliveries.put, connect=connect, retry=(0.01, 0.02))
    worker.submit(7)
    assert results(deliveries, 3) == [(7, Status.UNAVAILABLE), (7, Status.UNAVAILABLE), (7, 7)]
    worker.close()
    assert len(opened) == 3 and client.closed == 3 and client.sent == [7, 7, 7]

    borrowed = Held(unavailable=1)
    worker = NewestWins(perform, deliveries.put, connection=Connection(borrowed), retry=(0.01,))
    worker.submit(8)
    delivery = deliveries.get(timeout=10)
    assert delivery.event.status is Status.UNAVAILABLE and delivery.event.retry_in == 0.01
    assert borrowed.started.wait(10)  # the same connection again
    worker.close()
    assert borrowed.closed == 0 and borrowed.sent == [8, 8]


def test_the_worker_takes_one_connection():
    with pytest.raises(ValueError, match="either"):
        NewestWins(perform, print)
    with pytest.raises(ValueError, match="either"):
        NewestWins(perform, print, connect=lambda: None, connection=Connection(Held()))
