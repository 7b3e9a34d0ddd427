"""The plug-in's transport choice and error messages, and its actions end to end over both transports
against an in-process server (no GIMP: gimp_io is covered by test_plugin_gimp_io and test_gimp_e2e)."""
from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "gimp_plugin" / "gan_collage"))
import actions  # noqa: E402
import transport  # noqa: E402
from actions import CanvasData, LayerData, Options, Session  # noqa: E402
from server.region import Bounds, Square  # noqa: E402
from config import Config  # noqa: E402
from transport import CallError, TransportError  # noqa: E402

pytest_plugins = ("test_server_fixtures",)  # its fixtures: model_paths, catalog, served


def bridge_config(**values) -> Config:
    return Config(bridge_python=sys.executable, project_root=str(REPO), **values)


def no_grpc(monkeypatch):
    monkeypatch.setattr(transport, "direct_client_class", lambda: (None, "ModuleNotFoundError: No module named 'grpc'"))


def test_auto_prefers_direct_grpc():
    with transport.connect(bridge_config(transport="auto")) as connection:
        assert connection.description == "direct gRPC"


def test_auto_falls_back_to_the_bridge_without_grpc(monkeypatch):
    no_grpc(monkeypatch)
    with transport.connect(bridge_config(transport="auto")) as connection:
        assert connection.description == f"bridge ({sys.executable})"
    with pytest.raises(TransportError, match="no gRPC and no bridge is configured.*install.py"):
        transport.connect(Config())


def test_forced_direct_without_grpc_says_why(monkeypatch):
    no_grpc(monkeypatch)
    with pytest.raises(TransportError, match="cannot use gRPC \\(ModuleNotFoundError: No module named 'grpc'\\)"):
        transport.connect(bridge_config(transport="direct"))


@pytest.mark.parametrize("code,message,expected", [
    ("UNAVAILABLE", "connection refused", "Cannot reach the GAN Collage server at 127.0.0.1:50051. "
                                          "Start it with: /venv/bin/python -m server\n(connection refused)"),
    ("UNAVAILABLE", "the bridge process exited with code 1: No module named server", "The GAN Collage bridge failed"),
    ("UNAUTHENTICATED", "wrong token", "refused the token: wrong token\nSet the token in Server settings."),
    ("DEADLINE_EXCEEDED", "", "did not finish within 3600 s"),
    ("RESOURCE_EXHAUSTED", "queue full", "busy or out of memory: queue full"),
    ("INVALID_ARGUMENT", "canvas.width: 0", "refused the request: canvas.width: 0"),
    ("FAILED_PRECONDITION", "no regressor", "cannot be used for this: no regressor\nPick another model"),
    ("INTERNAL", "boom", "The GAN Collage server failed (INTERNAL): boom"),
])
def test_error_messages_say_what_to_do(code, message, expected):
    assert expected in transport.explain(CallError(code, message), Config(bridge_python="/venv/bin/python"))


def test_the_start_command_names_a_non_default_address():
    text = transport.explain(CallError("UNAVAILABLE", ""), Config(server="localhost:6000", bridge_python="py"))
    assert "Start it with: py -m server --host localhost --port 6000" in text


# ------------------------------------------------------------------------------------ both transports

LAYER = LayerData("patch", 12, 8, bytes(range(192)) * 2, x=3, y=2)
OTHER = LayerData("other", 8, 8, b"\x80\x40\x20\xff" * 64, x=10, y=10)


@pytest.fixture(params=["direct", "bridge"])
def session(request, served):
    with transport.connect(bridge_config(server=served.address, transport=request.param)) as connection:
        assert connection.description.startswith(request.param)
        yield Session(connection.client, model="", timeout=60, report=lambda text, fraction: None)


def test_every_action_over_the_transport(session):
    plan = actions.ReadPlan.of(Bounds(4, 5, 12, 6), 20, 16, session.resolution())  # an 8 x 1 selection
    canvas = CanvasData(20, 16, [OTHER, LAYER], region=plan.region, has_selection=True)
    (realized,) = actions.realize(session, canvas, Options("optimize", 2, 1))
    assert realized.name == "Realized (optimize, default, seed 1, 2 steps)" and realized.masked
    assert plan.region == Square(3, 1, 10) and realized.box == plan.region.bounds and realized.crop is None
    assert len(realized.image["rgba"]) == 32 * 32 * 4  # the generated square, scaled by GIMP

    (projected,) = actions.project(session, LAYER, Options())
    assert projected.box == LAYER.box.square() and projected.crop == LAYER.box
    frames = actions.interpolate(session, LAYER, OTHER, Options(), 3, "linear", 100)
    assert [frame.name for frame in frames] == ["Frame 1 (100ms)", "Frame 2 (100ms)", "Frame 3 (100ms)"]
    (mixed,) = actions.style_mix(session, LAYER, OTHER, Options(), 2)
    (blended,) = actions.local_blend(session, LAYER, OTHER, b"\xff" * 144, Options(), 1)
    for layer in (projected, *frames, mixed, blended):
        assert layer.image["width"] == layer.image["height"] == 32  # the tiny model's resolution


def test_server_errors_arrive_as_call_errors(session):
    session.model = "no-such-model"
    with pytest.raises(CallError) as error:
        actions.project(session, LAYER, Options())
    assert error.value.code == "INVALID_ARGUMENT"
    assert "refused the request" in transport.explain(error.value, Config())


def test_a_bridge_that_cannot_start():
    config = Config(transport="bridge", bridge_python="/nonexistent/python")
    with transport.connect(config) as connection:
        with pytest.raises(CallError) as error:
            list(connection.client.call("GetServerInfo", {}, 10))
    assert "The GAN Collage bridge failed: cannot start the bridge /nonexistent/python" in \
        transport.explain(error.value, config)
