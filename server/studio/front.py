"""The studio's front deployment: every call Ray Serve's gRPC proxy takes comes here, as bytes.

Here, in the plain server's order and with its messages: the token (health checks need none), the
request parsed (INVALID_ARGUMENT when it is not the method's message), the model name checked.
GetServerInfo, ListModels and health are answered here; a job call goes on to a replica, with the
request's model as its multiplexed model id, so Ray routes it to a replica that holds that model (or,
when those are busy, to the one with fewest models). Each replica runs one job at a time; the calls
that find none free wait in Ray's router, in the order they came, at most `max_queue` of them.

Ray keeps no queue positions one could read, so the front reports its own count: a streaming call
(Realize, Project, Interpolate) that waits gets "queued" events with the number of this front's
streaming calls waiting ahead of it, until its replica's first event arrives.
"""
from __future__ import annotations

import asyncio
import logging

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from server.jobs import QueueFull
from server.rpc import status
from server.rpc.catalog import Catalog, ModelEntry
from server.rpc.interceptors import MALFORMED, token_refusal
from server.rpc.threaded import Aborted
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

from .contract import REQUESTS, RESPONSES, SERVICE, Serialized
from .settings import StudioSettings

log = logging.getLogger(__name__)
QUEUED_AFTER = 0.05  # seconds without a replica before a call says it waits (the replica's own comes next)
SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def _fail(context, code: grpc.StatusCode, details: str):
    """End the call with this status: Ray Serve's proxy uses the code set on the context."""
    context.set_code(code)
    context.set_details(details)
    raise Aborted(code, details)


def _status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with after `exc`; never Ray's text for a failure (a traceback, with paths)."""
    if isinstance(exc, Aborted):  # from a replica (Ray re-raises it as a subclass of it)
        return exc.code, exc.details
    if isinstance(exc, BackPressureError):
        exc = QueueFull("the studio's queue is full (every replica busy, the most calls waiting); try again later")
    if isinstance(exc, RayActorError):
        return grpc.StatusCode.UNAVAILABLE, "the replica running this call stopped; try again"
    if (mapped := status.status_of(exc)) is not None:
        return mapped
    log.error("internal error", exc_info=exc)
    cause = exc.cause if isinstance(exc, RayTaskError) else exc
    return grpc.StatusCode.INTERNAL, f"internal error: {type(cause).__name__}"


class Line:
    """The streaming job calls this front has forwarded, in order, and which of them wait for a replica."""

    def __init__(self):
        self.in_flight = 0  # job calls forwarded and not ended, streaming or not (GetServerInfo's queue_length)
        self._waiting: list[object] = []
        self._moved = asyncio.Event()

    def _leave(self, ticket: object) -> None:
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            self._moved.set()
            self._moved = asyncio.Event()

    async def through(self, events, queued):
        """`events` (a replica's), after `queued(position)` each time this call's place changes while
        it waits for the first of them."""
        ticket = object()
        self._waiting.append(ticket)
        first = asyncio.ensure_future(events.__anext__())
        try:
            shown = None
            await asyncio.wait((first,), timeout=QUEUED_AFTER)
            while not first.done():
                if (position := self._waiting.index(ticket)) != shown:
                    shown = position
                    yield queued(position)
                moved = asyncio.ensure_future(self._moved.wait())
                await asyncio.wait((first, moved), return_when=asyncio.FIRST_COMPLETED)
                moved.cancel()
            self._leave(ticket)
            try:
                yield first.result()
            except StopAsyncIteration:
                return
            async for event in events:
                yield event
        finally:
            self._leave(ticket)
            first.cancel()


class Front:
    def __init__(self, replicas: DeploymentHandle, settings: StudioSettings):
        self._replicas = replicas
        self._token = settings.token
        self._catalog = Catalog([ModelEntry(name, source, None) for name, source in settings.sources.items()])
        self._info = pb.ServerInfo.FromString(settings.info)
        self._models = Serialized(settings.models)
        self._line = Line()

    def _admit(self, method: str, data: bytes, context):
        """The request, once the token and the bytes are checked."""
        if self._token and (refusal := token_refusal(context.invocation_metadata(), self._token)):
            _fail(context, grpc.StatusCode.UNAUTHENTICATED, refusal)
        try:
            return REQUESTS[method].FromString(data)
        except DecodeError:
            _fail(context, grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)

    def _replica(self, method: str, data: bytes, context, stream: bool):
        """The call `method` on the replica Ray picks for the request's model."""
        try:
            name = self._catalog.known(self._admit(method, data, context).model).name
        except Exception as exc:
            _fail(context, *_status_of(exc))
        return self._replicas.options(method_name="stream" if stream else "unary", stream=stream,
                                      multiplexed_model_id=name).remote(method, data)

    async def stream(self, method: str, data: bytes, context):
        events = self._replica(method, data, context, stream=True)
        self._line.in_flight += 1

        def queued(position: int) -> bytes:
            return RESPONSES[method](progress=pb.Progress(stage="queued", queue_position=position)).SerializeToString()

        try:
            async for event in self._line.through(events, queued):
                yield Serialized(event)
        except Exception as exc:
            _fail(context, *_status_of(exc))
        finally:
            self._line.in_flight -= 1
            events.cancel()  # a no-op once it has ended; else the replica's call (and its job) stops

    async def unary(self, method: str, data: bytes, context):
        response = self._replica(method, data, context, stream=False)
        self._line.in_flight += 1
        try:
            return Serialized(await response)
        except Exception as exc:
            _fail(context, *_status_of(exc))
        finally:
            self._line.in_flight -= 1
            response.cancel()

    # ----------------------------------------------------------------- answered here

    async def GetServerInfo(self, data: bytes, grpc_context):
        self._admit("GetServerInfo", data, grpc_context)
        info = pb.ServerInfo()
        info.CopyFrom(self._info)
        info.queue_length = self._line.in_flight
        return info

    async def ListModels(self, data: bytes, grpc_context):
        self._admit("ListModels", data, grpc_context)
        return self._models

    async def Check(self, data: bytes, grpc_context):
        """grpc.health.v1 (no token, like the plain server): the front answers, so Ray Serve runs the app."""
        return SERVING

    async def Watch(self, data: bytes, grpc_context):
        yield SERVING
        await asyncio.Event().wait()  # the status never changes while the front runs; the client ends the call


def _forwarding(method):
    """Front's method for a job call: Ray's proxy calls the deployment's method of the gRPC method's name."""
    if method.server_streaming:
        async def forward(self, data: bytes, grpc_context):
            async for event in self.stream(method.name, data, grpc_context):
                yield event
    else:
        async def forward(self, data: bytes, grpc_context):
            return await self.unary(method.name, data, grpc_context)
    forward.__name__ = forward.__qualname__ = method.name
    return forward


for _method in SERVICE.methods:
    if not hasattr(Front, _method.name):
        setattr(Front, _method.name, _forwarding(_method))
