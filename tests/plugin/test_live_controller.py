"""Live preview's controller (gimp_plugin/gan_collage/live_controller.py) without GIMP or GTK, against a real
loopback server: the signature, one call at a time with the newest state winning (the superseded call
cancelled on the server), stale answers dropped, reconnecting without flooding, Refine with progress and
cancel. The test thread plays GTK's main loop: the worker's deliveries queue up and `pump` handles them."""
from __future__ import annotations

import queue
import time
from dataclasses import replace

import pytest

from core import layer_data, requests
from core.connection import Connection
from core.errors import UserError
from core.layer_data import CanvasData, LayerData, Options
from core.live_controller import Job, JobKind, LiveController, signature
from core.newest_wins import Delivery
from server.shared.calls import Result
from server.shared.grpcio_client import GrpcioClient
from server.shared.region import Bounds
from tests.support.plugin import closed_port
from tests.support.servers import wait_until

LAYER = LayerData("patch", 12, 8, bytes(range(192)) * 2, x=3, y=2)
OTHER = LayerData("other", 8, 8, b"\x80\x40\x20\xff" * 64, x=10, y=10)
RETRY = (0.2, 0.4, 0.8)


def request_for(layers, options: Options = Options()) -> dict:
    plan = layer_data.ReadPlan.of(Bounds(2, 2, 18, 14), 20, 16, 32)
    return requests.realize_request(CanvasData(20, 16, layers, plan.region, True), options, "")


class View:
    """Records what the controller tells the window."""

    def __init__(self):
        self.events: list = []

    def kinds(self) -> list:
        return [event[0] for event in self.events]

    def connected(self, info, models):
        self.events.append(("connected", info, models))

    def updating(self):
        self.events.append(("updating",))

    def preview(self, result, timings):
        self.events.append(("preview", result, timings))

    def progress(self, progress):
        self.events.append(("progress", progress))

    def failed(self, error, retry_in):
        self.events.append(("failed", error, retry_in))

    def refined(self, result):
        self.events.append(("refined", result))


class Live:
    """A controller whose image is `self.request`, its main loop `pump`."""

    def __init__(self, address: str, request: dict | None = None, retry: tuple = RETRY, **options):
        self.request = request or request_for([LAYER])
        self.reads = 0
        self.view = View()
        self.outcomes: queue.Queue = queue.Queue()
        self.clients: list = []
        self.controller = LiveController(self.read, self.view, lambda: self._client(address),
                                         lambda handle, delivery: self.outcomes.put((handle, delivery)), retry=retry,
                                         **options)

    def _client(self, address: str) -> Connection:
        self.clients.append(GrpcioClient(address))
        return Connection(self.clients[-1])

    def read(self) -> dict:
        self.reads += 1
        if isinstance(self.request, Exception):
            raise self.request
        return self.request

    def pump(self, until, seconds: float = 30.0) -> None:
        """Handle outcomes (and poll every 20 ms, as the window does) until `until(view)` holds."""
        deadline = time.monotonic() + seconds
        while not until(self.view):
            assert time.monotonic() < deadline, f"waited {seconds} s; the view saw {self.view.kinds()}"
            try:
                handle, delivery = self.outcomes.get(timeout=0.02)
                handle(delivery)
            except queue.Empty:
                self.controller.poll()

    def count(self, kind: str) -> int:
        return self.view.kinds().count(kind)

    def close(self) -> None:
        self.controller.close()
        assert not self.controller.worker._thread.is_alive()


@pytest.fixture
def live(served):
    running = Live(served.address)
    yield running
    running.close()


# ------------------------------------------------------------------------------------ signature


def test_the_signature_follows_every_part_of_the_request():
    base = request_for([OTHER, LAYER])
    assert signature(base) == signature(request_for([OTHER, LAYER]))
    assert signature({"b": 1, "a": b"x"}) == signature({"a": b"x", "b": 1})  # key order does not matter
    pixels = bytearray(LAYER.pixels)
    pixels[100] ^= 1
    changed = [request_for([OTHER, replace(LAYER, pixels=bytes(pixels))]),   # one bit of one pixel
               request_for([OTHER, replace(LAYER, x=4)]),                    # a layer moved
               request_for([OTHER, replace(LAYER, opacity=0.5)]),           # its opacity
               request_for([OTHER, replace(LAYER, mask=b"\xff" * 96)]),      # a layer mask added
               request_for([LAYER]),                                         # a layer hidden
               request_for([LAYER, OTHER]),                                  # the stacking order
               request_for([OTHER, LAYER], Options(truncation=0.7)),         # a control in the window
               dict(base, region={"x": 0, "y": 0, "size": 20})]              # the selection's region
    assert len({signature(request) for request in [base, *changed]}) == len(changed) + 1
    assert signature({"a": b"ab", "b": b""}) != signature({"a": b"a", "b": b"b"})  # bytes are delimited


# ------------------------------------------------------------------------------------ previews


def test_a_change_gets_one_preview_and_no_change_gets_none(live, served):
    live.pump(lambda view: "preview" in view.kinds())
    (_, info, models), = [event for event in live.view.events if event[0] == "connected"]
    assert info["max_layers"] > 0 and [m["name"] for m in models] == ["default", "bare", "broken"]
    _, result, timings = live.view.events[-1]
    assert result["generated"]["width"] == 32 and result["latent"]["num_ws"] > 0
    assert {"read", "dispatch", "call", "server", "queue", "detected", "answered"} <= set(timings)
    assert 0 < timings["server"] <= timings["call"]
    assert live.controller.current and live.controller.shown_result is result

    for _ in range(10):  # the image as it was: polled, nothing asked
        live.controller.poll()
    assert live.count("updating") == 1 and served.jobs.length == 0

    live.request = request_for([replace(LAYER, x=5)])
    live.pump(lambda view: view.kinds().count("preview") == 2)
    assert live.controller.current and live.view.events[-1][1]["generated"] != result["generated"]


def test_the_newest_state_wins_and_the_superseded_call_is_cancelled_on_the_server(live, served):
    live.pump(lambda view: "preview" in view.kinds())
    live.request = request_for([OTHER], Options("optimize", 10_000))  # minutes of work
    live.controller.poll()
    assert wait_until(lambda: served.jobs.running, 20)
    live.request = request_for([OTHER, LAYER])  # the artist went on meanwhile
    started = time.monotonic()
    live.pump(lambda view: view.kinds().count("preview") == 2)
    assert time.monotonic() - started < 10  # not after the long job
    assert wait_until(lambda: not served.jobs.running and served.jobs.length == 0, 5)
    assert live.view.events[-1][1]["metrics"]["method"] == "regressor"  # the newest state's answer
    assert "failed" not in live.view.kinds()  # the cancelled call says nothing
    assert live.controller.current


def test_an_answer_for_a_state_that_changed_meanwhile_is_dropped(live):
    live.pump(lambda view: "preview" in view.kinds())
    shown = live.controller.shown_result
    live.request = request_for([OTHER])
    live.controller.poll()  # asks for the new state
    stale = Job(JobKind.PREVIEW, 1, signature=signature(request_for([LAYER])))  # an older generation's answer
    live.controller.handle(Delivery(stale, Result({"generated": {}, "metrics": {}})))
    assert live.controller.dropped == 1 and live.controller.shown_result is shown
    live.pump(lambda view: view.kinds().count("preview") == 2)
    assert live.controller.shown_result is not shown


def test_nothing_to_realize_is_said_once(live):
    live.pump(lambda view: "preview" in view.kinds())
    live.request = UserError("There is nothing to realize")
    for _ in range(5):
        live.controller.poll()
    failures = [event for event in live.view.events if event[0] == "failed"]
    assert len(failures) == 1 and str(failures[0][1]) == "There is nothing to realize" and failures[0][2] == 0
    live.request = request_for([LAYER])  # visible again: the same state as before, asked again
    live.pump(lambda view: view.kinds().count("preview") == 2)


def test_refine_starts_from_the_preview_reports_progress_and_can_be_stopped(live, served):
    live.pump(lambda view: "preview" in view.kinds())
    latent = live.controller.shown_result["latent"]
    refine = dict(live.request, options={"method": "optimize", "steps": 3, "init": "latent", "init_latent": latent})
    live.controller.refine(refine, 60)
    assert live.controller.poll() == 0.0  # no polls while refining
    live.pump(lambda view: "refined" in view.kinds())
    progress = [event[1] for event in live.view.events if event[0] == "progress"]
    assert progress[-1].stage == "optimize" and progress[-1].step == 3
    result = live.view.events[-1][1]
    assert result["metrics"]["steps"] == 3 and live.controller.refining is None

    live.controller.refine(dict(refine, options=dict(refine["options"], steps=10_000)), 600)
    live.pump(lambda view: view.kinds().count("progress") > len(progress) + 1)
    live.controller.cancel_refine()
    live.pump(lambda view: "failed" in view.kinds())
    (error,) = [event[1] for event in live.view.events if event[0] == "failed"]
    assert error.code == "CANCELLED" and live.controller.refining is None
    assert wait_until(lambda: not served.jobs.running and served.jobs.length == 0, 5)
    live.pump(lambda view: view.kinds()[-1] == "preview")  # polls again afterwards


# ------------------------------------------------------------------------------------ the server away


def test_the_window_waits_for_a_server_that_is_not_there_yet_and_for_one_that_comes_back(catalog):
    from server.rpc.server import ServerOptions, start_server

    port = closed_port()
    live = Live(f"127.0.0.1:{port}")
    try:
        started = time.monotonic()
        live.pump(lambda view: view.kinds().count("failed") >= 4, 20)
        failures = [event for event in live.view.events if event[0] == "failed"]
        assert [event[2] for event in failures[:4]] == [0.2, 0.4, 0.8, 0.8]  # growing waits, then the longest
        assert all(event[1].code == "UNAVAILABLE" for event in failures)
        assert time.monotonic() - started >= 0.2 + 0.4 + 0.8 - 0.1  # no flood: each try waited its turn
        assert live.reads == 0  # nothing read before the server answered

        running = start_server(catalog, ServerOptions(port=port))
        try:
            live.pump(lambda view: "preview" in view.kinds(), 30)
        finally:
            running.stop(grace=0)
        # the server went away after a preview: a change waits for it, then gets its preview
        live.request = request_for([replace(LAYER, y=4)])
        live.pump(lambda view: view.kinds()[-1] == "failed", 20)
        assert live.view.events[-1][1].code == "UNAVAILABLE" and live.view.events[-1][2] > 0
        running = start_server(catalog, ServerOptions(port=port))
        try:
            live.pump(lambda view: view.kinds()[-1] == "preview", 30)
        finally:
            running.stop(grace=0)
        assert live.controller.current
        assert live.count("connected") == 2  # the new connection asked for the server's models again
    finally:
        live.close()


def test_an_unchanged_probe_skips_the_read_except_for_a_recheck_now_and_then(served):
    """The probe (gimp_io.probe_canvas in GIMP) stands in for the read between changes; a full read still
    comes every `recheck` seconds, and a probe that fails (the read then says why) never skips it."""
    probe = {"value": 1}

    def probed():
        if isinstance(probe["value"], Exception):
            raise probe["value"]
        return probe["value"]

    live = Live(served.address, probe=probed, recheck=0.5)
    try:
        live.pump(lambda view: "preview" in view.kinds())
        reads = live.reads
        for _ in range(5):
            live.controller.poll()
        assert live.reads == reads  # the probe did not change: nothing read

        live.request = request_for([replace(LAYER, x=6)])  # a change the probe missed...
        time.sleep(0.5)
        live.pump(lambda view: view.kinds().count("preview") == 2, 10)  # ...is found by the recheck
        assert live.reads == reads + 1 and live.controller.rechecks == 1

        probe["value"] = 2
        live.controller.poll()
        assert live.reads == reads + 2
        probe["value"] = UserError("The image was closed.")
        live.controller.poll()
        live.controller.poll()
        assert live.reads == reads + 4 and live.controller.rechecks == 1
    finally:
        live.close()
