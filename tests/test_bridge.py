"""The bridge: its stdlib-only framing, and the bridge process end to end against an in-process server."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from conftest import REPO
from server.client import bridge_protocol
from server.client.bridge_protocol import BridgeClient, CallError, ProtocolError, read_frame, write_frame
from test_server_fixtures import wait_running

pytest_plugins = ("test_server_fixtures",)  # its fixtures: model_paths, catalog, served


def canvas_request(method: str = "optimize", steps: int = 3) -> dict:
    """A Realize request as the plug-in builds it: plain dicts, raw bytes, enum by short name."""
    pixels = (bytes(range(256)) * 19)[:40 * 30 * 4]
    selection = bytearray(40 * 30)
    for y in range(5, 25):
        selection[y * 40 + 10:y * 40 + 30] = b"\xff" * 20
    return {"canvas": {"width": 40, "height": 30, "selection": {"width": 40, "height": 30, "data": bytes(selection)},
                       "layers": [{"image": {"width": 40, "height": 30, "rgba": pixels}, "opacity": 0.9}]},
            "options": {"method": method, "steps": steps, "seed": 1}}


def test_frames_round_trip_with_blobs():
    message = {"call": "Realize", "request": {"a": b"\x00\x01", "list": [b"xyz", {"deep": bytearray(b"q")}],
                                              "n": 1.5, "s": "text", "none": None}}
    stream = io.BytesIO()
    write_frame(stream, message)
    write_frame(stream, {"event": "done"})
    stream.seek(0)
    decoded = read_frame(stream)
    assert decoded == {"call": "Realize", "request": {"a": b"\x00\x01", "list": [b"xyz", {"deep": b"q"}],
                                                      "n": 1.5, "s": "text", "none": None}}
    assert read_frame(stream) == {"event": "done"}
    assert read_frame(stream) is None


def test_truncated_frame_is_a_protocol_error():
    stream = io.BytesIO()
    write_frame(stream, {"blob": b"0123456789"})
    with pytest.raises(ProtocolError, match="ended inside a frame"):
        read_frame(io.BytesIO(stream.getvalue()[:-3]))


def test_protocol_module_runs_on_the_standard_library_alone():
    """As in GIMP's Python: no site-packages (-S), nothing from the environment (-I)."""
    code = ("import importlib.util, io, sys\n"
            f"spec = importlib.util.spec_from_file_location('bridge_protocol', {bridge_protocol.__file__!r})\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "stream = io.BytesIO(); module.write_frame(stream, {'x': b'1'}); stream.seek(0)\n"
            "assert module.read_frame(stream) == {'x': b'1'}\n"
            "assert module.BridgeClient and module.CallError\n")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def bridge(served):
    with BridgeClient(sys.executable, served.address, root=str(REPO)) as client:
        yield client


def test_realize_through_the_bridge(bridge, served):
    events = list(bridge.call("Realize", canvas_request(), timeout=60))
    progress = [e["progress"] for e in events if e["event"] == "progress"]
    assert progress[0]["stage"] == "queued" and [p["step"] for p in progress if p["stage"] == "optimize"] == [1, 2, 3]
    (result,) = [e["result"] for e in events if e["event"] == "result"]
    layer = result["layer"]
    assert (result["x"], result["y"], layer["width"], layer["height"]) == (10, 5, 20, 20)
    assert isinstance(layer["rgba"], bytes) and len(layer["rgba"]) == 20 * 20 * 4
    assert result["latent"]["num_ws"] == 8 and len(result["latent"]["values"]) == 8 * 32
    assert result["metrics"]["method"] == "optimize"
    # the same bridge serves a second call, here a failing one
    with pytest.raises(CallError) as error:
        list(bridge.call("Realize", {"canvas": {"width": 0}}))
    assert error.value.code == "INVALID_ARGUMENT" and error.value.message.startswith("canvas.width")
    with pytest.raises(CallError) as error:
        list(bridge.call("Realize", {"canvas": {"colour": 1}}))
    assert error.value.code == "INVALID_ARGUMENT" and "no field 'colour'" in error.value.message
    info = list(bridge.call("GetServerInfo", {}))
    assert info == [{"event": "result", "result": info[0]["result"]}] and info[0]["result"]["device"] == "cpu"


def test_cancel_kills_the_bridge_and_frees_the_worker(bridge, served):
    events = bridge.call("Realize", canvas_request(steps=10_000))
    for event in events:
        if event["event"] == "progress" and event["progress"]["stage"] == "optimize":
            break
    bridge.cancel()
    assert served.jobs.wait_idle(3.0)
    assert [e["event"] for e in bridge.call("Realize", canvas_request("regressor"))][-1] == "result"


def test_closing_stdin_cancels_the_call(served):
    client = BridgeClient(sys.executable, served.address, root=str(REPO))
    events = client.call("Realize", canvas_request(steps=10_000))
    next(events)
    wait_running(served.jobs)
    client._process.stdin.close()  # what happens when GIMP kills the plug-in
    assert client._process.wait(10) == 0
    assert served.jobs.wait_idle(3.0)
    client.close()


def test_bridge_that_cannot_run_is_reported_as_unavailable(served, tmp_path):
    # A Python that cannot import the project: without site-packages, where an editable install lives.
    python = tmp_path / "python-without-site"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    python.chmod(0o755)
    client = BridgeClient(str(python), served.address, root=str(tmp_path))
    with pytest.raises(CallError) as error:
        list(client.call("GetServerInfo", {}))
    assert error.value.code == "UNAVAILABLE" and "No module named" in error.value.message
    client.close()
    client = BridgeClient(str(tmp_path / "no-python"), served.address)
    with pytest.raises(CallError) as error:
        list(client.call("GetServerInfo", {}))
    assert error.value.code == "UNAVAILABLE" and "cannot start" in error.value.message
