"""A stand-in for the plug-in's gRPC client and the canned answers it gives (plain dicts, as the plug-in's
clients yield them), for the tests of the plug-in's core."""
from __future__ import annotations

from core.connection import Connection
from core.session import Session


def server_info(**limits):
    def answer(request):
        yield {"event": "result", "result": {"max_canvas_side": 16384, "max_layers": 256, "max_frames": 256,
                                             "max_message_bytes": 1 << 30, "max_request_pixels": 0, **limits}}
    return answer


def listing(*models):
    """ListModels' answer for (name, resolution, is_default, error[, num_ws]) tuples."""
    def answer(request):
        yield {"event": "result", "result": {"models": [
            dict(name=name, resolution=resolution, is_default=default, available=error == "", error=error,
                 num_ws=rest[0] if rest else 10) for name, resolution, default, error, *rest in models]}}
    return answer


class FakeClient:
    """Answers each call with canned events (the server's info and a default 64 px model unless given);
    records the other calls as (name, request, timeout)."""
    ASKED = ("GetServerInfo", "ListModels")

    def __init__(self, **answers):
        self.answers = {"GetServerInfo": server_info(), "ListModels": listing(("default", 64, True, "")), **answers}
        self.calls = []
        self.asked = []

    def call(self, name, request, timeout=None):
        (self.asked if name in self.ASKED else self.calls).append((name, request, timeout))
        yield from self.answers[name](request)


def image(width, height, fill=b"\x01\x02\x03\xff"):
    return {"width": width, "height": height, "rgba": fill * (width * height)}


def latent(model="default", value=0.5):
    return {"num_ws": 2, "w_dim": 2, "values": [value] * 4, "model": model}


def progress(stage, step, total, queue_position=0):
    return {"event": "progress", "progress": {"stage": stage, "step": step, "total": total,
                                              "queue_position": queue_position}}


def projected(request):
    yield progress("queued", 0, 0, 1)
    yield progress("regressor", 1, 1)
    yield {"event": "result", "result": {"latent": latent(), "image": image(8, 8),
                                         "metrics": {"method": request["options"]["method"], "steps": 0}}}


def session(client, reports=None):
    return Session(Connection(client), model="", timeout=60.0,
                   report=(lambda text, fraction: reports.append((text, fraction))) if reports is not None
                   else (lambda text, fraction: None))


SHAPE = (4, 2, 2)  # a small stylemap: C x L x L


def stylemap_listing(levels=6, **fields):
    """ListModels' answer: a StyleMapGAN model "smgan" (the default) beside a W+ model "faces"."""
    def answer(request):
        yield {"event": "result", "result": {"models": [
            dict(name="smgan", resolution=32, is_default=True, available=True, error="", num_ws=0, w_dim=0,
                 latent_kind="stylemap", latent_shape=list(SHAPE), num_levels=levels, **fields),
            dict(name="faces", resolution=64, is_default=False, available=True, error="", num_ws=2, w_dim=2,
                 latent_kind="w_plus", latent_shape=[2, 2], num_levels=2)]}}
    return answer


def stylemap_latent(model="smgan", value=0.5, shape=SHAPE):
    return {"num_ws": 0, "w_dim": 0, "values": [value] * (shape[0] * shape[1] * shape[2]), "model": model,
            "kind": "stylemap", "shape": list(shape)}
