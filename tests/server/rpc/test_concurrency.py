"""Cancellation, vanished clients, deadlines, a full queue and concurrent clients, over loopback gRPC."""
from __future__ import annotations

import itertools
import signal
import threading
import time

import grpc
import numpy as np
import pytest
from PIL import Image as PILImage

from server.rpc.servicer import INTERACTIVE_STEPS
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from tests.support.servers import long_request, realize_request, serving, spawn_client, wait_running

PROMPTLY = 3.0  # seconds: a cancelled job stops within one step (milliseconds here); slack for a busy CPU


def assert_serves_promptly(served):
    started = time.monotonic()
    events = served.realize(realize_request(), timeout=30)
    assert events[-1].HasField("result") and time.monotonic() - started < PROMPTLY


def test_cancel_mid_optimization_frees_the_worker(served):
    call = served.stub.Realize(long_request())
    for event in call:
        if event.progress.stage == "optimize" and event.progress.step >= 2:
            break
    call.cancel()
    with pytest.raises(grpc.RpcError) as error:
        next(call)
    assert error.value.code() == grpc.StatusCode.CANCELLED
    assert served.jobs.wait_idle(PROMPTLY)
    assert_serves_promptly(served)


def test_killed_client_process_frees_the_worker(served, tmp_path):
    layer = tmp_path / "layer.png"
    PILImage.fromarray(np.full((24, 24, 4), 128, np.uint8), "RGBA").save(layer)
    client = spawn_client("realize", "--server", served.address, "--layer", str(layer), "--method", "optimize",
                          "--steps", "10000", "-o", str(tmp_path / "out.png"))
    try:
        wait_running(served.jobs)
        client.send_signal(signal.SIGKILL)
        client.wait(10)
    finally:
        client.kill()
        client.communicate()
    assert served.jobs.wait_idle(PROMPTLY)
    assert_serves_promptly(served)


def test_deadline_cancels_the_job(served):
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        served.realize(long_request(), timeout=1.0)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert served.jobs.wait_idle(PROMPTLY)
    assert time.monotonic() - started < 1.0 + PROMPTLY


def test_full_queue_reports_positions_then_refuses(catalog):
    with serving(catalog, max_queue=1) as server:
        running = server.stub.Realize(long_request())
        next(running)
        wait_running(server.jobs)
        # a long job too: an interactive one would run between the running job's steps at once
        waiting = server.stub.Realize(realize_request(pb.METHOD_OPTIMIZE, steps=INTERACTIVE_STEPS + 1))
        first = next(waiting)
        assert (first.progress.stage, first.progress.queue_position) == ("queued", 1)
        with pytest.raises(grpc.RpcError) as error:
            server.realize(realize_request())
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in error.value.details() and "queue size 1" in error.value.details()
        info = server.stub.GetServerInfo(pb.GetServerInfoRequest())  # info never waits for the queue
        assert info.queue_length == 2
        running.cancel()
        events = list(waiting)  # the waiting job now runs
        assert events[-1].HasField("result")
        assert server.jobs.wait_idle(PROMPTLY)


def test_concurrent_clients_are_all_served(served):
    results, errors = [], []

    def client(seed: int):
        channel = grpc.insecure_channel(served.address)
        stub = type(served.stub)(channel)
        try:
            for steps in (0, 2):
                method = pb.METHOD_OPTIMIZE if steps else pb.METHOD_REGRESSOR
                request = realize_request(method, steps=steps, seed=seed)
                results.append(list(stub.Realize(request, timeout=60))[-1].result)
        except grpc.RpcError as exc:
            errors.append(exc)
        finally:
            channel.close()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 8
    assert served.jobs.wait_idle(PROMPTLY)


def test_previews_run_between_the_steps_of_a_long_job(served):
    long = served.stub.Realize(long_request())
    next(long)
    wait_running(served.jobs)
    for _ in range(3):  # previews behind a 10,000-step optimisation
        assert_serves_promptly(served)
    steps = [event.progress.step for event in itertools.islice(long, 40) if event.progress.stage == "optimize"]
    assert steps[-1] > steps[0]  # the long job carries on
    long.cancel()
    assert served.jobs.wait_idle(PROMPTLY)


def test_stalled_requests_hold_nothing_and_are_dropped(catalog):
    """40 calls of every method whose requests never arrive (raw HTTP/2: headers, part of the body)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from server.tools.hostile_calls import unary_request_paths
    from server.tools.stalled_calls import StalledCalls

    paths = list(itertools.islice(itertools.cycle(unary_request_paths()), 40))
    with serving(catalog, read_timeout=2.0) as server, StalledCalls(server.address, paths, per_connection=4) as calls:
        time.sleep(0.3)
        health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(), timeout=PROMPTLY)
        server.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=PROMPTLY)
        assert_serves_promptly(server)
        assert calls.wait_ended(2.0 + PROMPTLY)
    assert {status for _, status in calls.ended.values()} == {str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])}


def test_which_projections_are_long_jobs():
    from server.engine.project_options import ProjectOptions
    from server.rpc.servicer import is_long

    assert not is_long(ProjectOptions(method="regressor", steps=500))
    assert not is_long(ProjectOptions(method="hybrid", steps=8))  # Live preview's hybrid
    assert is_long(ProjectOptions(method="optimize", steps=INTERACTIVE_STEPS + 1))
    assert is_long(ProjectOptions(method="hybrid", steps=8, restarts=3))
