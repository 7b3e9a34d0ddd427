"""Servers and requests for the server, client and plug-in tests: an in-process server on a free loopback port,
request builders, waits, the client as a process. (The fixtures model_paths, catalog and served are in conftest.)
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import grpc
import numpy as np

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
from tests.support.paths import REPO

RESOLUTION = 32


class Served:
    """A running in-process server and a channel to it."""

    def __init__(self, running, token: str | None = None):
        self.running = running
        self.port = running.port
        self.address = f"127.0.0.1:{running.port}"
        self.jobs = running.jobs
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.GanCollageStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def realize(self, request: pb.RealizeRequest, **kwargs) -> list[pb.RealizeEvent]:
        return list(self.stub.Realize(request, metadata=self.metadata, **kwargs))


@contextlib.contextmanager
def serving(catalog, **options):
    """An in-process server on a free loopback port; torch on one thread (tiny tensors, busy CPU)."""
    import torch

    from server.rpc.server import ServerOptions, start_server

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    running = start_server(catalog, ServerOptions(port=0, **options))
    served = Served(running, options.get("token"))
    try:
        yield served
    finally:
        served.channel.close()
        running.stop(grace=0)
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------- requests


def rgba(width: int, height: int, seed: int = 0, alpha: int = 255) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    pixels[..., 3] = alpha
    return pixels.tobytes()


def image(width: int, height: int, seed: int = 0) -> pb.Image:
    return pb.Image(width=width, height=height, rgba=rgba(width, height, seed))


def canvas(width: int = 40, height: int = 30, selection: bool = True) -> pb.Canvas:
    """Two layers (the top one offset, half transparent, masked) and a rectangular selection."""
    top_mask = np.full((12, 10), 255, np.uint8)
    top_mask[:, :3] = 0
    c = pb.Canvas(width=width, height=height, layers=[
        pb.Layer(image=image(width, height, 1), name="bottom"),
        pb.Layer(image=image(10, 12, 2), x=-2, y=8, opacity=0.8,
                 mask=pb.Mask(width=10, height=12, data=top_mask.tobytes())),
    ])
    if selection:
        mask = np.zeros((height, width), np.uint8)
        mask[5:25, 10:30] = 255
        c.selection.CopyFrom(pb.Mask(width=width, height=height, data=mask.tobytes()))
    return c


def realize_request(method=pb.METHOD_REGRESSOR, steps: int = 0, **options) -> pb.RealizeRequest:
    return pb.RealizeRequest(canvas=canvas(), options=pb.ProjectionOptions(method=method, steps=steps, **options))


def long_request() -> pb.RealizeRequest:
    """An optimisation that would run for minutes: tests cancel it."""
    return realize_request(pb.METHOD_OPTIMIZE, steps=10_000)


def latent(num_ws: int, w_dim: int, seed: int = 0) -> pb.Latent:
    values = np.random.default_rng(seed).standard_normal(num_ws * w_dim).astype(np.float32)
    return pb.Latent(num_ws=num_ws, w_dim=w_dim, values=values.tolist())


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_running(jobs, timeout: float = 20.0) -> None:
    """Wait until the worker runs a job (it is past the queue)."""
    assert wait_until(lambda: jobs.running, timeout)


# ------------------------------------------------------------------------------------- processes


def python_env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")


def spawn_client(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "server.client", *args], cwd=REPO, env=python_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def run_client(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.client", *args], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=timeout)
