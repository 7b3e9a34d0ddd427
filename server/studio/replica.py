"""A studio replica: one device, one job at a time, and the models it has been asked for (past
`models_per_replica`, the least recently used is dropped).

It runs the plain server's servicer methods (server/rpc/servicer.py) on threads, as the plain server
does (`threaded.asynchronous`), over its own JobQueue. The model comes from the call's multiplexed
model id, which the front sets from the request's model name, so that Ray routes calls to replicas
that hold their model. When the front's call ends early (the client cancelled or went away), Ray
cancels this call's task: the wrapper then ends the call's ThreadContext, which cancels the job.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent import futures

import torch
from ray import serve

from server.__main__ import resolve_device
from server.jobs import JobQueue
from server.rpc import status
from server.rpc.catalog import Catalog, load_entry
from server.rpc.server import worker_threads
from server.rpc.servicer import GanCollageServicer
from server.rpc.threaded import Aborted, asynchronous
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

from .contract import REQUESTS
from .settings import StudioSettings

CALL_THREADS = 4  # the call's servicer method, and those of calls whose jobs are still being cancelled


def _log_to_replica_log() -> None:
    """The server's log lines (models loaded, errors) into this replica's log file, with Ray Serve's own."""
    ours = logging.getLogger("server")
    ours.handlers[:] = logging.getLogger("ray.serve").handlers
    ours.setLevel(logging.INFO)
    ours.propagate = False


class _RemoteCall:
    """What `threaded.asynchronous` needs of a call that came through Ray: no deadline (the client's
    is not forwarded; its cancellation is), and an abort that carries the status back to the front."""

    @staticmethod
    def time_remaining() -> None:
        return None

    @staticmethod
    async def abort(code, details: str):
        raise Aborted(code, details)


class Replica:
    def __init__(self, settings: StudioSettings):
        _log_to_replica_log()
        torch.set_num_threads(1)  # loading; the jobs' worker gets the replica's CPUs (rpc/server.worker_threads)
        self._sources = settings.sources
        self._device, description = resolve_device("cuda" if settings.gpus_per_replica else "cpu")
        self._jobs = JobQueue(1, name=description, prepare=worker_threads(max(1, round(settings.cpus_per_replica))),
                              between_steps=torch.enable_grad)
        self._pool = futures.ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="studio-calls")
        self._info = pb.ServerInfo.FromString(settings.info)

        async def load(name: str) -> Catalog:
            """Model `name`, in a catalog of its own, loaded by the jobs' worker thread (where torch runs)."""
            job = self._jobs.submit(lambda progress, cancel: load_entry(name, self._sources[name], self._device))
            catalog = Catalog([await asyncio.to_thread(job.result)])
            catalog.get(name)  # ModelUnavailable for an unreadable model, which is then not kept
            return catalog

        # a function of its own: Ray Serve keeps its model cache on the decorated object, not on a bound method
        self._catalog = serve.multiplexed(max_num_models_per_replica=settings.models_per_replica)(load)

    async def _behaviour(self, method: str, data: bytes, streaming: bool):
        """The servicer's `method` for this call's model, as an async generator or coroutine."""
        try:
            catalog = await self._catalog(serve.get_multiplexed_model_id())
        except Exception as exc:
            if (mapped := status.status_of(exc)) is None:
                raise
            raise Aborted(*mapped) from None
        servicer = GanCollageServicer(catalog, self._jobs, self._info)
        return asynchronous(getattr(servicer, method), streaming, self._pool)(REQUESTS[method].FromString(data),
                                                                                _RemoteCall)

    async def stream(self, method: str, data: bytes):
        """A server-streaming method's events, serialized."""
        async for event in await self._behaviour(method, data, streaming=True):
            yield event.SerializeToString()

    async def unary(self, method: str, data: bytes) -> bytes:
        call = await self._behaviour(method, data, streaming=False)
        return (await call).SerializeToString()
