"""Server interceptors: thread pools per kind of call, one log line per call, malformed requests,
and the bearer-token check."""
from __future__ import annotations

import functools
import hmac
import logging
import threading
import time
from concurrent import futures

import grpc

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


def _replace_behaviour(handler: grpc.RpcMethodHandler, wrap, **serializers) -> grpc.RpcMethodHandler:
    """A handler of the same kind whose behaviour is `wrap(behaviour, response_streaming)`."""
    attribute, factory = _KINDS[handler.request_streaming, handler.response_streaming]
    serializers = {"request_deserializer": handler.request_deserializer,
                   "response_serializer": handler.response_serializer, **serializers}
    return factory(wrap(getattr(handler, attribute), handler.response_streaming), **serializers)


class ThreadPools(grpc.ServerInterceptor):
    """Runs each call on the thread pool of its kind, so that no kind of call can starve another.

    gRPC's sync server gives every call a pool thread from its start until its end, and a unary
    call's thread waits there for the request message. With one shared pool, a few idle reflection
    streams (or clients that never send their request) left health checks and jobs waiting; here
    `pools` maps method-name prefixes to pools (gRPC picks a behaviour's `experimental_thread_pool`),
    and prefixes in `limits` may hold at most that many calls at once: more are refused at once with
    RESOURCE_EXHAUSTED, leaving threads for the others. Calls matching no prefix use the server's pool.
    Must be the first interceptor, so that its behaviour is the one gRPC sees.
    """

    def __init__(self, pools: dict[str, futures.ThreadPoolExecutor], limits: dict[str, int]):
        self._pools = pools
        self._slots = {prefix: threading.BoundedSemaphore(count) for prefix, count in limits.items()}

    @staticmethod
    def _match(method: str, table: dict):
        return next((value for prefix, value in table.items() if method.startswith(prefix)), None)

    def _limited(self, behaviour, response_streaming: bool, slots: threading.BoundedSemaphore, method: str):
        def refuse(context):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"too many {method.rsplit('/', 1)[0].lstrip('/')} calls are open; try again later")

        if response_streaming:
            def streaming(request, context):
                if not slots.acquire(blocking=False):
                    refuse(context)
                try:
                    yield from behaviour(request, context)
                finally:
                    slots.release()
            return streaming

        def unary(request, context):
            if not slots.acquire(blocking=False):
                refuse(context)
            try:
                return behaviour(request, context)
            finally:
                slots.release()
        return unary

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        pool = self._match(method, self._pools)
        if handler is None or pool is None:
            return handler
        attribute, _ = _KINDS[handler.request_streaming, handler.response_streaming]
        if getattr(getattr(handler, attribute), "experimental_non_blocking", False):
            return handler
        slots = self._match(method, self._slots)

        def wrap(behaviour, response_streaming):
            if slots is not None:
                behaviour = self._limited(behaviour, response_streaming, slots, method)
            run = functools.partial(behaviour)
            run.experimental_thread_pool = pool
            return run

        return _replace_behaviour(handler, wrap)


class _Malformed:
    """What a request that failed to deserialise becomes, so the method can refuse it cleanly."""


class MalformedRequests(grpc.ServerInterceptor):
    """Bytes that are not the method's request message get INVALID_ARGUMENT with a one-line log,
    instead of gRPC's INTERNAL "Exception deserializing request!" and a traceback per call."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method

        def deserialize(data: bytes):
            try:
                return handler.request_deserializer(data)
            except Exception:  # any parse failure: the bytes are not this method's message
                return _Malformed()

        def refuse(context):
            log.warning("%s: refused a request that is not a valid protobuf message", method)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message for this method")

        def checked(requests, context):
            for request in requests:
                if isinstance(request, _Malformed):
                    refuse(context)
                yield request

        def wrap(behaviour, response_streaming):
            if handler.request_streaming:
                return lambda requests, context: behaviour(checked(requests, context), context)

            def single(request, context):
                if isinstance(request, _Malformed):
                    refuse(context)
                return behaviour(request, context)
            return single

        return _replace_behaviour(handler, wrap, request_deserializer=deserialize)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"


class RequestLog(grpc.ServerInterceptor):
    """Logs `method outcome duration in=... out=... peer` once per call, at INFO (failures at WARNING).

    Sizes are those of the serialised messages, measured in the (de)serialisers. gRPC deserialises a
    request on its polling thread, so the size waits in a map keyed by the request object's id until
    the method wrapper takes it; streamed responses are serialised on the method's own thread, so a
    thread-local counter carries their sizes; a unary response is serialised after the method
    returns, so its size is its ByteSize(). Methods that run without a thread of their own (grpc's
    `experimental_non_blocking`, e.g. health Watch) are not logged.
    """

    def __init__(self):
        self._request_sizes: dict[int, int] = {}
        self._lock = threading.Lock()
        self._sent = threading.local()

    def _deserializer(self, deserialize):
        def counted(data: bytes):
            request = deserialize(data) if deserialize else data
            with self._lock:
                self._request_sizes[id(request)] = len(data)
            return request
        return counted

    def _serializer(self, serialize):
        def counted(response) -> bytes:
            data = serialize(response) if serialize else response
            self._sent.bytes = getattr(self._sent, "bytes", 0) + len(data)
            return data
        return counted

    def _received(self, request) -> int:
        with self._lock:
            return self._request_sizes.pop(id(request), 0)

    def _counted_requests(self, requests, total: list[int]):
        for request in requests:
            total[0] += self._received(request)
            yield request

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        attribute, _ = _KINDS[handler.request_streaming, handler.response_streaming]
        if getattr(getattr(handler, attribute), "experimental_non_blocking", False):
            return handler
        method = handler_call_details.method

        def start(request):
            if handler.request_streaming:
                received = [0]
                return self._counted_requests(request, received), received
            return request, [self._received(request)]

        def finish(context, started, received, sent, failed):
            code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
            level = logging.INFO if code == grpc.StatusCode.OK else logging.WARNING
            log.log(level, "%s %s %.1fms in=%s out=%s peer=%s", method, code.name,
                    (time.perf_counter() - started) * 1e3, _size(received[0]), _size(sent), context.peer())

        def wrap(behaviour, response_streaming):
            if response_streaming:
                def streaming(request, context):
                    started, failed = time.perf_counter(), False
                    request, received = start(request)
                    self._sent.bytes = 0
                    try:
                        yield from behaviour(request, context)
                    except GeneratorExit:  # grpc stopped iterating: the client went away, or the deadline passed
                        remaining = context.time_remaining()
                        expired = remaining is not None and remaining <= DEADLINE_SLACK_SECONDS
                        context.set_code(grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED)
                        raise
                    except BaseException:
                        failed = True
                        raise
                    finally:
                        finish(context, started, received, self._sent.bytes, failed)
                return streaming

            def unary(request, context):
                started, response = time.perf_counter(), None
                request, received = start(request)
                try:
                    response = behaviour(request, context)
                    return response
                finally:
                    sent = response.ByteSize() if response is not None else 0
                    finish(context, started, received, sent, response is None)
            return unary

        return _replace_behaviour(handler, wrap,
                                  request_deserializer=self._deserializer(handler.request_deserializer),
                                  response_serializer=self._serializer(handler.response_serializer))


class TokenAuth(grpc.ServerInterceptor):
    """Refuses calls without metadata `authorization: Bearer <token>` (UNAUTHENTICATED).

    A refused call is answered by a request-streaming handler that never reads the request: gRPC reads
    a unary request whole before the method runs, so a large one would cost its size in memory first.
    """

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def _refusal(self, metadata) -> str | None:
        given = next((value for key, value in metadata or () if key == "authorization"), None)
        if given is None:
            return "this server needs a token: send metadata 'authorization: Bearer <token>'"
        if not hmac.compare_digest(given.encode(), self._expected):
            return "wrong token"
        return None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_PREFIXES):
            return handler
        refusal = self._refusal(handler_call_details.invocation_metadata)
        if refusal is None:
            return handler

        def refuse(requests, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)

        return grpc.stream_stream_rpc_method_handler(refuse)
