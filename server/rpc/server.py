"""Assemble the gRPC server: the GanCollage service, grpc.health.v1, reflection, interceptors, limits."""
from __future__ import annotations

import asyncio
import importlib.metadata
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.engine.canvas import MAX_CANVAS_SIDE, MAX_LAYERS
from server.jobs import JobQueue
from server.models import DEFAULT_NAME
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc

from . import convert
from .catalog import Catalog
from .interceptors import (
    PUBLIC_PREFIXES,
    MalformedRequests,
    RequestLog,
    RequestTimeout,
    ReturnMemoryWhenQuiet,
    TokenAuth,
)
from .network import DEFAULT_PORT, DEFAULT_READ_TIMEOUT, address, is_loopback
from .pixel_budget import DEFAULT_MAX_REQUEST_PIXELS, DEFAULT_MAX_RESULT_PIXELS
from .servicer import GanCollageServicer
from .threaded import Threaded

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GanCollage"].full_name
SPARE_THREADS = 4  # beyond the jobs' calls (waiting, running, one between its steps): refusals, bad requests
INLINE_METHODS = (f"/{SERVICE_NAME}/GetServerInfo", f"/{SERVICE_NAME}/ListModels")  # answered on the loop
STREAMS_PER_CONNECTION = 100  # calls open at once on one HTTP/2 connection; a client queues the rest
WORKER_STOP_SECONDS = 10.0
LOOP_STOP_SECONDS = 5.0


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0 = any free port
    token: str | None = None
    tls_cert: bytes | None = None  # PEM; with tls_key
    tls_key: bytes | None = None
    max_queue: int = 8  # jobs waiting behind the running one
    max_message_bytes: int = 256 << 20  # well above what max_request_pixels of raw RGBA + masks needs
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS
    max_result_pixels: int = DEFAULT_MAX_RESULT_PIXELS
    read_timeout: float = DEFAULT_READ_TIMEOUT  # seconds a call's request may take to arrive in full
    device: str = "cpu"  # a description for GetServerInfo
    torch_threads: int = 0  # torch's CPU threads in the worker thread (0: as the starting thread has them)


def version() -> str:
    try:
        return importlib.metadata.version("gan-collage")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


class _LoopThread:
    """An asyncio event loop running in a thread of its own: the gRPC server's."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="grpc-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine):
        """Run `coroutine` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(LOOP_STOP_SECONDS)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    jobs: JobQueue
    health: health.aio.HealthServicer
    pool: futures.ThreadPoolExecutor
    loop: _LoopThread

    def stop(self, grace: float = 5.0) -> bool:
        """Stop taking calls, give running ones `grace` seconds, then cancel them and stop the worker.

        True when the worker stopped; it stops at its job's next cancellation check, which a long
        engine step (or the first call's one-off setup) can delay beyond WORKER_STOP_SECONDS.
        """
        self.loop.run(self._stop(grace))
        self.pool.shutdown(wait=False, cancel_futures=True)
        stopped = self.jobs.close(timeout=WORKER_STOP_SECONDS)
        self.loop.close()
        return stopped

    async def _stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def server_info(options: ServerOptions) -> pb.ServerInfo:
    """The static part of GetServerInfo's answer (the servicer adds the queue's length)."""
    return pb.ServerInfo(version=version(), api_version=pb.DESCRIPTOR.package, device=options.device,
                         default_model=DEFAULT_NAME, max_queue=options.max_queue,
                         max_message_bytes=options.max_message_bytes, max_layers=MAX_LAYERS,
                         max_canvas_side=MAX_CANVAS_SIDE, max_frames=convert.MAX_FRAMES,
                         max_request_pixels=options.max_request_pixels,
                         max_result_pixels=options.max_result_pixels)


def worker_threads(threads: int):
    """What the worker thread runs first: torch's thread count there, when one is given.

    The server's torch work belongs in that one thread. On CPU, OpenMP keeps a team of helper threads
    for each thread that computes with several; a second team (the starting thread's, from loading the
    models) makes the worker's small passes about twice as slow on a 2-core machine. So `python -m
    server` loads with one thread and gives the worker the rest (docs/benchmark.md, "Live preview").
    """
    if not threads:
        return None

    def prepare() -> None:
        torch.set_num_threads(threads)

    return prepare


def start_server(catalog: Catalog, options: ServerOptions) -> RunningServer:
    """Bind and start; raises ValueError for a non-loopback host without a token or a bad TLS pair.

    The server is gRPC's asyncio one, on an event loop in a thread of its own: requests are read and
    answers written there, so a slow or stalled client holds no thread (see threaded.py); model work
    runs on the jobs' worker thread.
    """
    if not is_loopback(options.host) and not options.token:
        raise ValueError(f"refusing to listen on {options.host} without a token: anyone who can reach it "
                         "could use it; pass --token (or bind to 127.0.0.1)")
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ValueError("TLS needs both a certificate and its key")
    jobs = JobQueue(options.max_queue, name=options.device, prepare=worker_threads(options.torch_threads),
                    between_steps=torch.enable_grad)
    pool = futures.ThreadPoolExecutor(options.max_queue + 2 + SPARE_THREADS, thread_name_prefix="grpc-calls")
    loop = _LoopThread()
    try:
        server, port, health_servicer = loop.run(_serve(catalog, options, jobs, pool))
    except BaseException:
        jobs.close()
        pool.shutdown()
        loop.close()
        raise
    return RunningServer(server, port, jobs, health_servicer, pool, loop)


async def _serve(catalog: Catalog, options: ServerOptions, jobs: JobQueue, pool: futures.ThreadPoolExecutor):
    """Build, bind and start the server on the running loop: (server, port, health servicer)."""
    interceptors = [RequestTimeout(options.read_timeout), ReturnMemoryWhenQuiet(pool, PUBLIC_PREFIXES + INLINE_METHODS),
                    RequestLog(), MalformedRequests(),
                    *([TokenAuth(options.token)] if options.token else []), Threaded(pool, INLINE_METHODS)]
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.max_concurrent_streams", STREAMS_PER_CONNECTION)])

    pb_grpc.add_GanCollageServicer_to_server(GanCollageServicer(catalog, jobs, server_info(options)), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    where = address(options.host, options.port)
    try:
        if options.tls_cert is not None:
            credentials = grpc.ssl_server_credentials([(options.tls_key, options.tls_cert)])
            port = server.add_secure_port(where, credentials)
        else:
            port = server.add_insecure_port(where)
    except RuntimeError as exc:  # grpc's way of saying the address is taken or invalid
        raise OSError(f"cannot listen on {where}: {exc}") from None
    await server.start()
    return server, port, health_servicer
