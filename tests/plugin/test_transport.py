"""The plug-in's gRPC stacks against a real loopback server: grpcio in this process, and the packaged
plug-in's own pure-Python stack in a Python that has neither grpcio nor protobuf (python -S), giving the
same results and the same error codes. No GIMP here: gimp_io is covered by plugin/test_gimp_io and
gimp/test_*_in_gimp."""
from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest

from core import actions, attributes, connection, layer_data, requests
from core.connection import CallError, TransportError, connect
from core.latent_parasite import Stored
from core.layer_data import CanvasData, LayerData, Options
from core.session import Session
from core.settings import Config
from server.shared.region import Bounds, Square
from tests.support.paths import REPO
from tests.support.plugin import closed_port, other_python, plain_python
from tests.support.servers import serving


def code(config: Config, name: str, request: dict, timeout: float = 60) -> str:
    """The status code of a call over grpcio ("OK" when it succeeds)."""
    try:
        with connect(config) as connection:
            list(connection.client.call(name, request, timeout))
    except CallError as exc:
        return exc.code
    return "OK"

LAYER = LayerData("patch", 12, 8, bytes(range(192)) * 2, x=3, y=2)
OTHER = LayerData("other", 8, 8, b"\x80\x40\x20\xff" * 64, x=10, y=10)


def test_auto_prefers_grpcio():
    with connect(Config(transport="auto")) as connection:
        assert connection.description.startswith("grpcio ")


def test_without_grpcio_a_source_folder_says_what_to_do(monkeypatch):
    """The source folder (no vendor/pure-grpc) in a Python without grpcio: the message names the fix."""
    def no_grpcio():
        raise ModuleNotFoundError("No module named 'grpc'")

    monkeypatch.setattr(connection, "grpcio_stack", no_grpcio)
    monkeypatch.setattr(connection.vendored, "use_pure_grpc", lambda: None)  # keep this process's protobuf
    monkeypatch.setitem(sys.modules, "grpclib", None)  # as if vendor/pure-grpc were missing
    with pytest.raises(TransportError, match=r"(?s)plug-in folder is incomplete: its pure-Python gRPC files are "
                                             r"missing .*install.py --package-plugin OUT.*restart GIMP"):
        connect(Config())
    with pytest.raises(TransportError, match=r"(?s)cannot use grpcio. In Server settings, set the transport to "
                                             r"Automatic.*No module named 'grpc'"):
        connect(Config(transport="grpcio"))


@pytest.fixture
def session(served):
    with connect(Config(server=served.address, transport="grpcio")) as connection:
        yield Session(connection, model="", timeout=60, report=lambda text, fraction: None)


def test_every_action_over_grpcio(session):
    plan = layer_data.ReadPlan.of(Bounds(4, 5, 12, 6), 20, 16, session.resolution())  # an 8 x 1 selection
    canvas = CanvasData(20, 16, [OTHER, LAYER], region=plan.region, has_selection=True)
    (realized,) = actions.realize(session, canvas, Options("optimize", 2, 1))
    assert realized.name == "Realized (optimize, default, seed 1, 2 steps)" and realized.masked
    assert plan.region == Square(3, 1, 10) and realized.box == plan.region.bounds and realized.crop is None
    assert len(realized.image["rgba"]) == 32 * 32 * 4  # the generated square, scaled by GIMP

    (projected,) = actions.project(session, LAYER, Options())
    assert projected.name == "Projection of patch (regressor, default)"
    assert projected.box == LAYER.box.square() and projected.crop == LAYER.box
    frames = actions.interpolate(session, LAYER, OTHER, Options(), 3, "linear", 100)
    assert [frame.name for frame in frames] == ["Frame 1 (100ms)", "Frame 2 (100ms)", "Frame 3 (100ms)"]
    (mixed,) = actions.style_mix(session, LAYER, OTHER, Options(), 2)
    (blended,) = actions.local_blend(session, LAYER, OTHER, lambda square: b"\xff" * 144, Options(), 1)
    carrying = replace(LAYER, latent=Stored(projected.latent, projected.box))
    (edited,) = attributes.edit(session, carrying, Options(), "pc1=2, sefa2=-1", "fine")
    assert edited.name == "Edited patch (pc1 +2, sefa2 -1; fine rows, default)" and edited.box == projected.box
    rows, width = edited.latent["num_ws"], edited.latent["w_dim"]
    fine = attributes.row_range("fine", rows)[0] * width  # only the last third of the rows moved
    before, after = projected.latent["values"], edited.latent["values"]
    assert after[:fine] == before[:fine] and after[fine:] != before[fine:] and len(after) == rows * width
    for layer in (projected, *frames, mixed, blended, edited):
        assert layer.image["width"] == layer.image["height"] == 32  # the tiny model's resolution
    assert session.model_info()["num_ws"] > 0 and session.limits().max_canvas_side > 0


def test_the_packaged_plugin_without_grpcio_or_protobuf(served, catalog, packaged_plugin, session):
    """Same actions, same layers, same error codes through the vendored grpclib and pure-Python protobuf."""
    closed = f"127.0.0.1:{closed_port()}"
    with serving(catalog, token="s3cret") as guarded:
        done = plain_python(str(REPO / "tests" / "support" / "pure_python_plugin.py"), str(packaged_plugin),
                            served.address, closed, guarded.address, "s3cret")
        over_grpcio = {"no token": code(Config(server=guarded.address), "GetServerInfo", {}),
                       "wrong token": code(Config(server=guarded.address, token="guess"), "GetServerInfo", {}),
                       "right token": code(Config(server=guarded.address, token="s3cret"), "GetServerInfo", {})}
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["grpc_importable"] is False and report["protobuf"] == "python"
    assert report["description"] == "pure-Python gRPC (grpclib 0.4.9)"
    names = [name for name, _, _ in report["layers"]]
    assert names == ["Realized (optimize, default, seed 1, 2 steps)", "Projection of patch (regressor, default)",
                     "Frame 1 (100ms)", "Frame 2 (100ms)", "Frame 3 (100ms)",
                     "Style mix of patch + other (split 2, default)",
                     "Local blend of patch + other (from layer 1, default)",
                     "Edited patch (pc1 +2, sefa2 -1; fine rows, default)"]
    assert report["counts"]["latents_reused"] == 1  # the Edit: no projection
    assert report["crafted"] == {"boxes": [list(LAYER.box.square())] * 2, "notes": [
        "The latent stored with the layer 'patch' could not be used (it is damaged, or GAN Collage did not make it), "
        "so the layer was projected again."]}
    assert report["token refused"].startswith("The token cannot be used: it holds 'é'")
    assert report["token refused by grpclib"].startswith("the token cannot be sent to the server: it holds 'é'")
    assert all(length == side * side * 4 for _, side, length in report["layers"])

    over_grpcio.update({
        "unknown model": code(Config(server=served.address), "Project", {"model": "nope",
                                                                         "image": requests.image_dict(LAYER)}),
        "closed port": code(Config(server=closed), "GetServerInfo", {}),
        "deadline": code(Config(server=served.address), "Project",
                         {"image": requests.image_dict(LAYER), "options": {"method": "optimize", "steps": 10000}}, 0.3),
    })
    assert report["codes"] == over_grpcio == {"unknown model": "INVALID_ARGUMENT", "closed port": "UNAVAILABLE",
                                              "deadline": "DEADLINE_EXCEEDED", "no token": "UNAUTHENTICATED",
                                              "wrong token": "UNAUTHENTICATED", "right token": "OK"}


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_the_packaged_plugin_in_other_pythons(version, served, packaged_plugin):
    """GIMP 3 ships or uses Python 3.10 to 3.13 depending on the platform; the vendored stack is pure Python."""
    python = other_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (python{version} on PATH or in ~/.pyenv)")
    done = plain_python(str(REPO / "tests" / "support" / "pure_python_plugin.py"), str(packaged_plugin), served.address,
                        f"127.0.0.1:{closed_port()}", python=python)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["protobuf"] == "python" and len(report["layers"]) == 8
    assert report["codes"] == {"unknown model": "INVALID_ARGUMENT", "closed port": "UNAVAILABLE",
                               "deadline": "DEADLINE_EXCEEDED"}


# ------------------------------------------------------------------------------------- cancel


def opener_of(stack: str, request):
    """The plug-in's client class for "grpcio" (GrpcioClient) or "grpclib" (GrpclibClient, from the packaged
    plug-in's vendored stack)."""
    if stack == "grpcio":
        from server.shared.grpcio_client import GrpcioClient
        return GrpcioClient
    request.getfixturevalue("grpclib_importable")
    from server.shared.grpclib_client import GrpclibClient
    return GrpclibClient


@pytest.fixture(params=["grpcio", "grpclib"])
def client(request, served):
    """Each of the plug-in's two clients, connected to the module's server."""
    with opener_of(request.param, request)(served.address) as connected:
        yield connected


LONG_PROJECT = {"image": requests.image_dict(LAYER), "options": {"method": "optimize", "steps": 10_000}}
SHORT_PROJECT = {"image": requests.image_dict(LAYER), "options": {"method": "regressor"}}


def queue_length(client) -> int:
    [answer] = client.call("GetServerInfo", {}, 10)
    return answer["result"]["queue_length"]


def assert_usable(client):
    """The client's next calls run normally, and the server's queue is empty (the cancelled job has ended)."""
    from tests.support.servers import wait_until

    assert wait_until(lambda: queue_length(client) == 0, 5.0)
    assert list(client.call("Project", SHORT_PROJECT, 30))[-1]["result"]["metrics"]["method"] == "regressor"


def running(event: dict) -> bool:
    return event["event"] == "progress" and event["progress"]["stage"] != "queued"


def test_cancel_from_another_thread_ends_the_call_and_the_job(client):
    import threading
    import time

    started, outcome = threading.Event(), {}

    def work():
        try:
            for event in client.call("Project", LONG_PROJECT, 120):
                if running(event):
                    started.set()
            outcome["finished"] = True
        except CallError as exc:
            outcome["error"], outcome["at"] = exc, time.monotonic()
        finally:
            started.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert started.wait(60) and not outcome, outcome
    asked = time.monotonic()
    client.cancel()
    thread.join(10)
    assert not thread.is_alive() and outcome["error"].code == "CANCELLED", outcome
    assert outcome["at"] - asked < 2.0
    assert_usable(client)


def test_cancel_between_events_ends_the_call(client):
    """Asked from the calling thread itself, while it handles an event: the next step raises CANCELLED."""
    with pytest.raises(CallError) as info:
        for event in client.call("Project", LONG_PROJECT, 120):
            if running(event):
                client.cancel()
    assert info.value.code == "CANCELLED"
    assert_usable(client)


def test_cancel_without_a_call_in_progress_is_harmless(client):
    client.cancel()
    assert queue_length(client) == 0
    client.cancel()  # after a finished call: the next one is not cancelled
    assert_usable(client)


# ------------------------------------------------------------------------------------- what went wrong


@pytest.mark.parametrize("stack", ["grpcio", "grpclib"])
def test_a_token_that_cannot_travel_in_metadata_is_refused_before_anything_is_sent(stack, request):
    """Each client says so when made (grpcio used to fail every call with INTERNAL "Invalid metadata",
    grpclib to raise from inside the call); the plug-in says so in the artist's words."""
    opener = opener_of(stack, request)
    with pytest.raises(ValueError, match="the token cannot be sent to the server: it holds 'é', and a token may "
                                         "hold only ASCII letters, digits, punctuation and spaces"):
        opener(f"127.0.0.1:{closed_port()}", "clé")
    with pytest.raises(TransportError, match=r"^The token cannot be used: it holds 'é'.*Server settings"):
        connect(Config(token="clé"))


@pytest.mark.parametrize("stack", ["grpcio", "grpclib"])
def test_a_server_that_dies_mid_job_is_not_called_unreachable(stack, request, model_paths):
    """The server process killed while it optimizes: "stopped while working"; asked again, "Cannot reach"."""
    from core.messages import explain
    from server.tools.server_process import server as server_process

    opener = opener_of(stack, request)
    default, _ = model_paths
    with server_process("--model", str(default)) as running:
        def kill_when_working(text: str, fraction: float) -> None:
            if "optimize" in text:
                running.process.kill()

        messages = []
        for report in (kill_when_working, lambda text, fraction: None):
            with opener(running.address) as connected, pytest.raises(CallError) as error:
                actions.project(Session(connection.Connection(connected), "", 60, report), LAYER,
                                Options("optimize", 10_000))
            messages.append(explain(error.value, Config(server=running.address)).splitlines()[0])
    assert messages[0].startswith(f"The GAN Collage server at {running.address} stopped while working on this")
    assert messages[1].startswith(f"Cannot reach the GAN Collage server at {running.address}.")
