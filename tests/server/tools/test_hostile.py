"""Hostile clients over real loopback gRPC, against `python -m server` processes on the tiny model.

Each case of server/tools/hostile_cases.py (the hardening issue's items: PNG bombs, canvas-sized work, idle
streams, echoed inputs, slow readers, unauthenticated payloads, queue accounting, memory kept after a
job, huge latents, non-protobuf bytes, server paths, LPIPS; issue 24's stalled requests) must end with
its expected code within its time limit, grow the server's peak RSS by at most 500 MB, and pass its
own check. One server per set of flags serves the cases that share them.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import torch

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.tools import hostile, hostile_calls
from server.tools.server_process import ServerProcess, server
from tests.support.paths import REPO
from tests.support.servers import long_request, python_env, wait_until

# Shared CI machines are noisy: time limits here are 4x the targets, which still fail every case the
# way it failed before (seconds to minutes); `python -m server.tools.hostile` measures the targets.
TIME_SLACK = 4.0

if not Path("/proc/self/clear_refs").exists():
    pytest.skip("peak RSS is read through /proc (Linux only)", allow_module_level=True)


@pytest.fixture(scope="module")
def servers(model_paths):
    """Server processes by flag set, started on first use, all stopped at the end."""
    default, models_dir = model_paths
    started: dict[tuple[str, ...], ServerProcess] = {}

    def get(flags: tuple[str, ...]) -> ServerProcess:
        if flags[-1:] == ("--models-dir",):  # the cases' convention: the folder follows the flag
            flags += (str(models_dir),)
        if flags not in started:
            started[flags] = ServerProcess("--model", str(default), *flags)
        return started[flags]

    yield get
    for running in started.values():
        running.close()


@pytest.mark.parametrize("case", hostile.CASES, ids=[case.name for case in hostile.CASES])
def test_hostile_case_meets_its_targets(servers, case):
    running = servers(case.flags)
    outcome = hostile.run_case(case, running)
    failures = case.failures(outcome, time_slack=TIME_SLACK)
    assert not failures, (outcome, failures)
    assert running.process.poll() is None, "the server died"


def test_every_item_of_the_issue_has_a_case():
    assert {case.item for case in hostile.CASES if case.issue is None} == set(range(1, 11))
    # and every case is a test of its own (the ids above) that expects real status codes in a real time
    labels = [(case.name, case.label) for case in hostile.CASES]
    assert len({name for name, _ in labels}) == len(labels), labels
    codes = {code.name for code in grpc.StatusCode}
    for case in hostile.CASES:
        assert case.expect and set(case.expect) <= codes and case.limit_seconds > 0, case


def test_deadline_expiry_is_logged_as_such(servers):
    running = servers(())
    with grpc.insecure_channel(running.address) as channel:
        stub = hostile_calls.stub(channel)
        earlier = len(running.log_lines)
        with pytest.raises(grpc.RpcError) as error:
            list(stub.Realize(long_request(), timeout=1.0))
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    logged = running.log_lines  # the drain thread appends to it
    assert wait_until(lambda: any("Realize DEADLINE_EXCEEDED" in line for line in logged[earlier:]), 10), \
        logged[earlier:]  # not CANCELLED: the client's dropping the call at its deadline is the deadline
    assert not any("Realize CANCELLED" in line for line in logged[earlier:])


# ------------------------------------------------------------------------------------- start-up flags


def start(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", "--port", "0", *flags], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=60)


def test_missing_tls_files_are_a_flag_error_without_a_traceback(tmp_path):
    done = start("--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(tmp_path / "nope.key"))
    assert done.returncode == 2 and "--tls-cert" in done.stderr and "no such file" in done.stderr
    assert "Traceback" not in done.stderr


class _Planted:
    """Unpickling this would create a file: proof that a loader executed code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_lpips_weights_file_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    weights = tmp_path / "vgg16.pth"
    weights.write_bytes(pickle.dumps({"features.0.weight": _Planted(str(marker))}))
    done = start("--lpips-weights", str(weights))
    assert done.returncode == 1 and "--lpips-weights" in done.stderr
    assert not marker.exists()


def vgg16_shaped_file(path):
    """Random weights in torchvision's vgg16 layout (features only), as torch.save writes them."""
    from server.engine.losses import VGG16Features

    torch.manual_seed(0)
    state = {name: torch.randn_like(value) * 0.05 for name, value in VGG16Features().state_dict().items()}
    torch.save({name: value.half() for name, value in state.items()}, path)


def test_lpips_weights_flag_enables_the_lpips_loss(model_paths, tmp_path):
    default, _ = model_paths
    weights = tmp_path / "vgg16.pth"
    vgg16_shaped_file(weights)
    with server("--model", str(default), "--lpips-weights", str(weights)) as running:
        with grpc.insecure_channel(running.address) as channel:
            options = pb.ProjectionOptions(method=pb.METHOD_OPTIMIZE, steps=2, perceptual="lpips", report_loss=True)
            events = list(hostile_calls.stub(channel).Realize(pb.RealizeRequest(
                canvas=hostile_calls.small_canvas(32, 32), options=options, skip_layer=True), timeout=60))
    metrics = events[-1].result.metrics
    assert metrics.steps == 2 and metrics.loss > 0
