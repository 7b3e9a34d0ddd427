"""What the hostile-client cases (server/tools/hostile_cases.py) send and how they call: request
builders (PNG bombs, opaque layers, small canvases), `Outcome`, and the call helpers (finish a call,
time the answers, find the worker free after a cancel). server/tools/fuzz.py uses them too."""
from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc

CALL_DEADLINE = 60.0


# ------------------------------------------------------------------------------------- requests


def png_header_only(width: int, height: int) -> bytes:
    """A ~100-byte RGBA PNG that claims `width` x `height` but carries one row of pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    row = zlib.compress(b"\0" * (1 + width * 4), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def opaque_layer(width: int, height: int, x: int = 0, y: int = 0) -> pb.Layer:
    return pb.Layer(image=pb.Image(width=width, height=height, rgb=bytes(width * height * 3)), x=x, y=y)


def small_canvas(width: int = 64, height: int = 64) -> pb.Canvas:
    return pb.Canvas(width=width, height=height, layers=[opaque_layer(width, height)])


def regressor(canvas: pb.Canvas, **fields) -> pb.RealizeRequest:
    return pb.RealizeRequest(canvas=canvas, options=pb.ProjectionOptions(method=pb.METHOD_REGRESSOR), **fields)


def rectangle_selection(canvas: pb.Canvas, x0: int, y0: int, x1: int, y1: int) -> None:
    """Select [x0, x1) x [y0, y1), sent cropped to its box."""
    width, height = x1 - x0, y1 - y0
    canvas.selection.CopyFrom(pb.Mask(width=width, height=height, data=b"\xff" * (width * height)))
    canvas.selection_x, canvas.selection_y = x0, y0


# ------------------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    code: str  # the status code name of the call the case is about
    message: str = ""
    details: dict = field(default_factory=dict)  # case-specific figures
    seconds: float = 0.0
    peak_growth_mb: float = 0.0


def finish(make_call: Callable[[], object]) -> tuple[str, str]:
    """Make a call (unary, or a response stream it reads to the end): (code name, message)."""
    try:
        answer = make_call()
        if not hasattr(answer, "SerializeToString"):
            for _ in answer:
                pass
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or ""
    return "OK", ""


def stub(channel: grpc.Channel) -> pb_grpc.GanCollageStub:
    return pb_grpc.GanCollageStub(channel)


def realize(channel, request, **kwargs) -> tuple[str, str]:
    return finish(lambda: stub(channel).Realize(request, timeout=CALL_DEADLINE, **kwargs))


def worker_free_after_cancel(channel, request, running_for: float = 0.5) -> dict:
    """Start `request`, cancel it once it has run `running_for` s, then time until the server's queue
    is empty again (the worker is free). `ended_first` when it finished before it could be cancelled."""
    call = stub(channel).Realize(request, timeout=CALL_DEADLINE)
    info = stub(channel).GetServerInfo
    started = time.monotonic()
    while info(pb.GetServerInfoRequest(), timeout=5).queue_length == 0 and time.monotonic() - started < 30:
        if call.done():
            break
        time.sleep(0.01)
    time.sleep(running_for)
    ended_first = call.done()
    call.cancel()
    cancelled = time.monotonic()
    while info(pb.GetServerInfoRequest(), timeout=5).queue_length and time.monotonic() - cancelled < 60:
        time.sleep(0.01)
    return {"worker_free_seconds": round(time.monotonic() - cancelled, 3), "ended_first": ended_first}



def answer_times(channel, timeout: float = 10.0) -> dict[str, dict]:
    """How a health check, GetServerInfo and a small regressor Realize answer: {name: {code, seconds}}."""
    times = {}
    for name, call in (
            ("health", lambda: health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout)),
            ("info", lambda: stub(channel).GetServerInfo(pb.GetServerInfoRequest(), timeout=timeout)),
            ("realize", lambda: list(stub(channel).Realize(regressor(small_canvas()), timeout=timeout)))):
        started = time.monotonic()
        try:
            call()
            code = "OK"
        except grpc.RpcError as exc:
            code = exc.code().name
        times[name] = {"code": code, "seconds": round(time.monotonic() - started, 3)}
    return times


def worst_code(times: dict[str, dict]) -> str:
    return next((t["code"] for t in times.values() if t["code"] != "OK"), "OK")


def unary_request_paths() -> list[str]:
    """Every method whose request is one message: all of the service's, and the health check."""
    service = pb.DESCRIPTOR.services_by_name["GanCollage"]
    return [f"/{service.full_name}/{method.name}" for method in service.methods if not method.client_streaming] \
        + ["/grpc.health.v1.Health/Check"]

