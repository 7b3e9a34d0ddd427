"""`python -m server` as a process: startup line, flag checks, graceful stop on SIGTERM mid-job."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc
import pytest

from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
from server.tools.server_process import server
from tests.support.paths import REPO
from tests.support.servers import long_request, python_env, wait_until


def test_refuses_to_bind_beyond_loopback_without_a_token():
    done = subprocess.run([sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", "0"], cwd=REPO,
                          env=python_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--token is required" in done.stderr


@pytest.mark.parametrize("token,reason", [("pässwort", "it holds 'ä'"), ("secret ", "starts or ends with a space")])
def test_refuses_a_token_that_clients_could_never_send(token, reason, monkeypatch, capsys):
    """gRPC metadata is printable ASCII: such a token used to be accepted, then every client failed."""
    from server.__main__ import parse_args

    for argv, environment in ((["--token", token], None), ([], token)):
        if environment is not None:
            monkeypatch.setenv("GANCOLLAGE_TOKEN", environment)
        with pytest.raises(SystemExit) as stopped:
            parse_args(["--port", "0", *argv])
        assert stopped.value.code == 2
        line = capsys.readouterr().err.splitlines()[-1]
        assert line.startswith("python -m server: error: --token (or $GANCOLLAGE_TOKEN) cannot be used: clients "
                               "could never send it, because ") and reason in line


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


def test_with_no_flags_it_serves_every_shipped_model(tmp_path):
    """The embedded StyleGAN2 is the default; the embedded StyleMapGAN is offered next to it, by name,
    and a --models-dir model of the same name does not replace it."""
    from server.models.loading import EMBEDDED_MODELS
    from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

    (tmp_path / "portraits-stylemap-64.pt").write_bytes(b"not a checkpoint")
    with server("--models-dir", str(tmp_path)) as running, grpc.insecure_channel(running.address) as channel:
        models = {m.name: m for m in pb_grpc.GanCollageStub(channel).ListModels(pb.ListModelsRequest()).models}
    assert set(models) == {"default", "portraits-stylemap-64"}, sorted(models)
    assert models["default"].is_default and models["default"].latent_kind == "w_plus"
    stylemap = models["portraits-stylemap-64"]
    assert stylemap.available and stylemap.has_regressor and not stylemap.is_default
    assert stylemap.latent_kind == "stylemap" and stylemap.resolution == 64
    assert list(stylemap.latent_shape) == [32, 16, 16]
    assert EMBEDDED_MODELS["portraits-stylemap-64"].name == "embedded-stylemap"
    assert any("already taken" in line for line in running.log_lines)
