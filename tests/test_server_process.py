"""`python -m server` as a process: startup line, flag checks, graceful stop on SIGTERM mid-job."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc
import pytest

from conftest import REPO
from server.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
from server.tools.server_process import server
from test_server_fixtures import long_request, python_env, wait_until

pytest_plugins = ("test_server_fixtures",)  # its fixtures: model_paths, catalog, served


def test_refuses_to_bind_beyond_loopback_without_a_token():
    done = subprocess.run([sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", "0"], cwd=REPO,
                          env=python_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--token is required" in done.stderr


def test_unreadable_model_flag_stops_startup(tmp_path, caplog):
    from server.__main__ import main

    broken = tmp_path / "model.pt"
    broken.write_bytes(b"garbage")
    assert main(["--port", "0", "--model", str(broken)]) == 1
    assert "cannot load --model" in caplog.text


def test_sigterm_mid_job_stops_gracefully(model_paths):
    default, _ = model_paths
    with server("--model", str(default), "--grace", "0.5") as running:
        process, address = running.process, running.address
        assert address.startswith("127.0.0.1:") and not address.endswith(":0")
        channel = grpc.insecure_channel(address)
        call = pb_grpc.GanCollageStub(channel).Realize(long_request())
        assert next(call).progress.stage == "queued"
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 10
        with pytest.raises(grpc.RpcError) as error:
            list(call)
        assert error.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        channel.close()
        assert wait_until(lambda: any("stopped" in line for line in running.log_lines), 5)
        assert any("shutting down" in line for line in running.log_lines)
