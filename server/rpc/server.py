"""Assemble the gRPC server: the GanCollage service, grpc.health.v1, reflection, interceptors, limits."""
from __future__ import annotations

import importlib.metadata
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.api.gancollage.v1 import gancollage_pb2 as pb
from server.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
from server.engine.canvas import MAX_CANVAS_SIDE, MAX_LAYERS
from server.jobs import JobQueue
from server.models import DEFAULT_NAME

from . import convert
from .catalog import Catalog
from .interceptors import MalformedRequests, RequestLog, ThreadPools, TokenAuth
from .network import DEFAULT_PORT, address, is_loopback
from .pixel_budget import DEFAULT_MAX_REQUEST_PIXELS, DEFAULT_MAX_RESULT_PIXELS
from .servicer import GanCollageServicer


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GanCollage"].full_name
SPARE_THREADS = 4  # beyond the queue, for calls refused at once (queue full, bad request)
QUICK_THREADS = 8  # health, GetServerInfo, ListModels: a pool of their own
QUICK_METHODS = ("/grpc.health.v1.Health/", f"/{SERVICE_NAME}/GetServerInfo", f"/{SERVICE_NAME}/ListModels")
REFLECTION_THREADS = 8
REFLECTION_STREAMS = 6  # open at once; more are refused, so one pool thread stays free to refuse them
WORKER_STOP_SECONDS = 10.0


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
    device: str = "cpu"  # a description for GetServerInfo
    torch_threads: int = 0  # torch's CPU threads in the worker thread (0: as the starting thread has them)


def version() -> str:
    try:
        return importlib.metadata.version("gan-collage")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    jobs: JobQueue
    health: health.HealthServicer
    pools: list[futures.ThreadPoolExecutor]

    def stop(self, grace: float = 5.0) -> bool:
        """Stop taking calls, give running ones `grace` seconds, then cancel them and stop the worker.

        True when the worker stopped; it stops at its job's next cancellation check, which a long
        engine step (or the first call's one-off setup) can delay beyond WORKER_STOP_SECONDS.
        """
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)
        return self.jobs.close(timeout=WORKER_STOP_SECONDS)


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
        import torch

        torch.set_num_threads(threads)

    return prepare


def start_server(catalog: Catalog, options: ServerOptions) -> RunningServer:
    """Bind and start; raises ValueError for a non-loopback host without a token or a bad TLS pair."""
    if not is_loopback(options.host) and not options.token:
        raise ValueError(f"refusing to listen on {options.host} without a token: anyone who can reach it "
                         "could use it; pass --token (or bind to 127.0.0.1)")
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ValueError("TLS needs both a certificate and its key")
    jobs = JobQueue(options.max_queue, name=options.device, prepare=worker_threads(options.torch_threads))
    limits = [("grpc.max_receive_message_length", options.max_message_bytes),
              ("grpc.max_send_message_length", options.max_message_bytes)]
    quick = futures.ThreadPoolExecutor(QUICK_THREADS, thread_name_prefix="grpc-quick")
    streams = futures.ThreadPoolExecutor(REFLECTION_THREADS, thread_name_prefix="grpc-reflection")
    reflection_prefix = "/grpc.reflection."  # v1alpha and v1
    pools = ThreadPools({**{prefix: quick for prefix in QUICK_METHODS}, reflection_prefix: streams},
                        limits={reflection_prefix: REFLECTION_STREAMS})
    interceptors = [pools, RequestLog(), MalformedRequests()] + ([TokenAuth(options.token)] if options.token else [])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=options.max_queue + 1 + SPARE_THREADS,
                                                    thread_name_prefix="grpc-jobs"),
                         interceptors=interceptors, options=limits)

    info = pb.ServerInfo(version=version(), api_version=pb.DESCRIPTOR.package, device=options.device,
                         default_model=DEFAULT_NAME, max_queue=options.max_queue,
                         max_message_bytes=options.max_message_bytes, max_layers=MAX_LAYERS,
                         max_canvas_side=MAX_CANVAS_SIDE, max_frames=convert.MAX_FRAMES,
                         max_request_pixels=options.max_request_pixels,
                         max_result_pixels=options.max_result_pixels)
    pb_grpc.add_GanCollageServicer_to_server(GanCollageServicer(catalog, jobs, info), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    where = address(options.host, options.port)
    try:
        if options.tls_cert is not None:
            credentials = grpc.ssl_server_credentials([(options.tls_key, options.tls_cert)])
            port = server.add_secure_port(where, credentials)
        else:
            port = server.add_insecure_port(where)
    except RuntimeError as exc:  # grpc's way of saying the address is taken or invalid
        jobs.close()
        quick.shutdown()
        streams.shutdown()
        raise OSError(f"cannot listen on {where}: {exc}") from None
    server.start()
    return RunningServer(server, port, jobs, health_servicer, [quick, streams])
