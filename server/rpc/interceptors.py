"""Server interceptors (grpc.aio): a time limit on reading each request, one log line per call,
malformed requests, the bearer-token check, and handing memory back once calls are over.

Every behaviour they wrap is async (threaded.py turns the servicer's synchronous methods into async
ones innermost), and so is every behaviour they return: gRPC's aio server tells the kinds apart by
`inspect.iscoroutinefunction` / `isasyncgenfunction`.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time

import grpc

from server.memory import return_freed_memory

log = logging.getLogger("server.requests")

# Health checks answer without a token, so that probes and the plug-in's "is it up?" need no secret.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)
# A client whose deadline passed drops the call a moment before the server's copy of that deadline (it
# counts from the request's arrival) runs out: a call dropped this close to its deadline expired.
DEADLINE_SLACK_SECONDS = 0.25

_KINDS = {  # (request_streaming, response_streaming) -> (handler attribute, factory)
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def replace_behaviour(handler: grpc.RpcMethodHandler, wrap, request_streaming: bool | None = None,
                      **serializers) -> grpc.RpcMethodHandler:
    """A handler whose behaviour is `wrap(behaviour, response_streaming)`, of the same kind unless
    `request_streaming` says otherwise."""
    attribute, _ = _KINDS[handler.request_streaming, handler.response_streaming]
    streaming_in = handler.request_streaming if request_streaming is None else request_streaming
    _, factory = _KINDS[streaming_in, handler.response_streaming]
    serializers = {"request_deserializer": handler.request_deserializer,
                   "response_serializer": handler.response_serializer, **serializers}
    return factory(wrap(getattr(handler, attribute), handler.response_streaming), **serializers)


def preceded(behaviour, response_streaming: bool, before):
    """`behaviour` run on what `await before(request, context)` returns (the request, checked or read)."""
    if response_streaming:
        async def streaming(request, context):
            async for response in behaviour(await before(request, context), context):
                yield response
        return streaming

    async def unary(request, context):
        return await behaviour(await before(request, context), context)
    return unary


def bracketed(behaviour, response_streaming: bool, enter, leave):
    """`behaviour` with `enter()` called as the call starts and `leave()` as it ends, however it ends."""
    if response_streaming:
        async def streaming(request, context):
            enter()
            try:
                async for response in behaviour(request, context):
                    yield response
            finally:
                leave()
        return streaming

    async def unary(request, context):
        enter()
        try:
            return await behaviour(request, context)
        finally:
            leave()
    return unary


class RequestTimeout(grpc.aio.ServerInterceptor):
    """Ends a call whose request has not arrived in full within `seconds` (DEADLINE_EXCEEDED).

    gRPC reads a unary request before the method runs and waits for it as long as the client keeps
    the stream open; here the handler takes the request as a stream and reads its one message with a
    time limit instead, so a stalled or trickling request is dropped, with what it had sent. Must be
    the first interceptor, so that no other waits for the request first.
    """

    def __init__(self, seconds: float):
        self._seconds = seconds

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method, seconds = handler_call_details.method, self._seconds

        async def read(_requests, context):
            try:
                request = await asyncio.wait_for(context.read(), seconds)
            except asyncio.TimeoutError:
                log.warning("%s: dropped a call whose request did not arrive within %g s", method, seconds)
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"the request did not arrive within the server's {seconds:g} s")
            if request is grpc.aio.EOF:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
            return request

        return replace_behaviour(handler, lambda behaviour, streaming: preceded(behaviour, streaming, read),
                                 request_streaming=True)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"


def _bytes(message) -> int:
    return message.ByteSize() if hasattr(message, "ByteSize") else 0  # a _Malformed request counts 0


class _Call:
    """One call's figures for its log line: `method outcome duration in=... out=... peer`."""

    def __init__(self, method: str, context, request, request_streaming: bool):
        self.method, self.context = method, context
        self.peer = context.peer()  # now: the call may be gone when the line is written
        self.started = time.perf_counter()
        self.received = 0 if request_streaming else _bytes(request)
        self.request = self._counted(request) if request_streaming else request
        self.sent = 0
        self.code: grpc.StatusCode | None = None

    async def _counted(self, requests):
        async for request in requests:
            self.received += _bytes(request)
            yield request

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):  # the client went away, or the deadline passed
            remaining = self.context.time_remaining()
            expired = remaining is not None and remaining <= DEADLINE_SLACK_SECONDS
            self.code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        else:
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN  # an abort sets its code

    def log(self) -> None:
        code = self.code or self.context.code() or grpc.StatusCode.OK
        level = logging.INFO if code == grpc.StatusCode.OK else logging.WARNING
        log.log(level, "%s %s %.1fms in=%s out=%s peer=%s", self.method, code.name,
                (time.perf_counter() - self.started) * 1e3, _size(self.received), _size(self.sent), self.peer)


class RequestLog(grpc.aio.ServerInterceptor):
    """Logs `method outcome duration in=... out=... peer` once per call, at INFO (failures at WARNING);
    sizes are those of the messages, streamed ones added up as they pass."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def wrap(behaviour, response_streaming):
            if response_streaming:
                async def streaming(request, context):
                    call = _Call(method, context, request, handler.request_streaming)
                    try:
                        async for response in behaviour(call.request, context):
                            call.sent += _bytes(response)
                            yield response
                    except BaseException as exc:
                        call.failed(exc)
                        raise
                    finally:
                        call.log()
                return streaming

            async def unary(request, context):
                call = _Call(method, context, request, handler.request_streaming)
                try:
                    response = await behaviour(call.request, context)
                    call.sent = _bytes(response)
                    return response
                except BaseException as exc:
                    call.failed(exc)
                    raise
                finally:
                    call.log()
            return unary

        return replace_behaviour(handler, wrap)


MALFORMED = "the request is not a valid message for this method"


class _Malformed:
    """What a request that failed to deserialise becomes, so the method can refuse it cleanly."""


class MalformedRequests(grpc.aio.ServerInterceptor):
    """Bytes that are not the method's request message get INVALID_ARGUMENT with a one-line log,
    instead of gRPC's "Exception deserializing request!" and a traceback per call."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method

        def deserialize(data: bytes):
            try:
                return handler.request_deserializer(data)
            except Exception:  # any parse failure: the bytes are not this method's message
                return _Malformed()

        async def refuse(context):
            log.warning("%s: refused a request that is not a valid protobuf message", method)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)

        async def checked(requests, context):
            async for request in requests:
                if isinstance(request, _Malformed):
                    await refuse(context)
                yield request

        async def check(request, context):
            if handler.request_streaming:
                return checked(request, context)
            if isinstance(request, _Malformed):
                await refuse(context)
            return request

        return replace_behaviour(handler, lambda behaviour, streaming: preceded(behaviour, streaming, check),
                                 request_deserializer=deserialize)


def token_refusal(metadata, token: str) -> str | None:
    """Why a call with this metadata may not use a server that wants `token`; None when it may."""
    given = next((value for key, value in metadata or () if key == "authorization"), None)
    if given is None:
        return "this server needs a token: send metadata 'authorization: Bearer <token>'"
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return "wrong token"
    return None


class TokenAuth(grpc.aio.ServerInterceptor):
    """Refuses calls without metadata `authorization: Bearer <token>` (UNAUTHENTICATED).

    A refused call is answered by a request-streaming handler that never reads the request, so a large
    one costs nothing: gRPC reads a unary request whole before the method runs.
    """

    def __init__(self, token: str):
        self._token = token

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_PREFIXES):
            return handler
        refusal = token_refusal(handler_call_details.invocation_metadata, self._token)
        if refusal is None:
            return handler

        async def refuse(requests, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)

        return grpc.stream_unary_rpc_method_handler(refuse)


class ReturnMemoryWhenQuiet(grpc.aio.ServerInterceptor):
    """Hands freed memory back to the system (server/memory.py) once no call has been in flight for
    `quiet_seconds`, on `pool`.

    What a large call freed is only all free once gRPC has let go of its request and response, after
    the method returned: the jobs' worker, idle at the end of the job, is too early. Calls to the
    `ignore` methods (name prefixes: health checks, server info) allocate little and neither count nor
    delay the trim; a run of Live previews, one every few hundred ms, keeps what it reuses.
    """

    def __init__(self, pool, ignore: tuple[str, ...] = (), quiet_seconds: float = 0.5):
        self._pool, self._ignore, self._quiet = pool, ignore, quiet_seconds
        self._in_flight = 0
        self._last_end = 0  # counts calls ended: a trim scheduled before a later end is stale

    def _enter(self) -> None:
        self._in_flight += 1

    def _leave(self) -> None:
        self._in_flight -= 1
        self._last_end += 1
        if self._in_flight == 0:
            asyncio.get_running_loop().call_later(self._quiet, self._trim_if_quiet, self._last_end)

    def _trim_if_quiet(self, end: int) -> None:
        if self._in_flight == 0 and end == self._last_end:
            asyncio.get_running_loop().run_in_executor(self._pool, return_freed_memory)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._ignore):
            return handler
        return replace_behaviour(handler, lambda behaviour, streaming: bracketed(
            behaviour, streaming, self._enter, self._leave))
