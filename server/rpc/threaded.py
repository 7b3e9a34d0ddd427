"""Run a synchronous servicer's methods on the grpc.aio server: requests read on the event loop, the
methods' own work on threads.

The server reads every request on its event loop, so a call whose request is slow or never arrives
holds no thread (gRPC's sync server gave each call a pool thread while it waited). A method runs once
its request is there: the few that answer at once (`inline`: GetServerInfo, ListModels) on the loop
itself, the others on `pool` (they convert requests and wait for their jobs). Methods keep the
synchronous servicer API (so the same servicer serves elsewhere, e.g. on Ray Serve): they get a
`ThreadContext`, whose `add_callback` callbacks run when the call ends however it ends (a client
that cancels or goes away, a deadline), which is what stops their jobs. gRPC's own support for
synchronous methods on an aio server runs such callbacks only after the method has returned.

`Threaded` is the innermost interceptor: every behaviour the others see is a coroutine function or an
async generator function. Only unary-request methods are supported (the service has no others).
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent import futures

import grpc

from .interceptors import replace_behaviour

_END = object()  # what `next` returns on a finished generator


class Aborted(Exception):
    """Raised by `ThreadContext.abort` in the method's thread; the call then ends with its status."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(code, details)
        self.code, self.details = code, details


class ThreadContext:
    """What a method running off the loop sees of its call: the parts of grpc.ServicerContext the
    servicer uses. `call` is the aio context; reading its deadline is safe from any thread."""

    def __init__(self, call: grpc.aio.ServicerContext):
        self._call = call
        self._callbacks: list = []
        self._ended = False
        self._lock = threading.Lock()

    def abort(self, code: grpc.StatusCode, details: str = ""):
        raise Aborted(code, details)

    def add_callback(self, callback) -> bool:
        """Run `callback()` when the call ends; False (and not registered) when it already has."""
        with self._lock:
            if not self._ended:
                self._callbacks.append(callback)
            return not self._ended

    def time_remaining(self) -> float | None:
        return self._call.time_remaining()

    def end(self) -> None:
        """The call has ended: run the callbacks (once)."""
        with self._lock:
            self._ended, callbacks, self._callbacks = True, self._callbacks, []
        for callback in callbacks:
            callback()


def _unary(behaviour, pool: futures.Executor | None):
    async def unary(request, call):
        context = ThreadContext(call)
        try:
            if pool is None:
                return behaviour(request, context)
            return await asyncio.get_running_loop().run_in_executor(pool, behaviour, request, context)
        except Aborted as aborted:
            await call.abort(aborted.code, aborted.details)
        finally:
            context.end()
    return unary


def _streaming(behaviour, pool: futures.Executor):
    """Each response is the generator's next item, computed on `pool` and written from the loop, so a
    slow reader holds no thread either."""
    async def streaming(request, call):
        context = ThreadContext(call)
        responses = behaviour(request, context)
        loop = asyncio.get_running_loop()
        try:
            while (response := await loop.run_in_executor(pool, next, responses, _END)) is not _END:
                yield response
        except Aborted as aborted:
            await call.abort(aborted.code, aborted.details)
        except GeneratorExit:  # gRPC stopped reading (the call ended) between two responses
            responses.close()
            raise
        finally:
            context.end()  # cancels the job; a `next` still running in the pool then returns
    return streaming


class Threaded(grpc.aio.ServerInterceptor):
    """Synchronous unary-request behaviours as async ones: `inline` unary methods (full names,
    "/package.Service/Method") on the loop, the others on `pool`."""

    def __init__(self, pool: futures.Executor, inline: tuple[str, ...] = ()):
        self._pool = pool
        self._inline = inline

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        inline = handler_call_details.method in self._inline and not handler.response_streaming
        pool = None if inline else self._pool

        def wrap(behaviour, response_streaming):
            if inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour):
                return behaviour
            return asynchronous(behaviour, response_streaming, pool)

        return replace_behaviour(handler, wrap)


def asynchronous(behaviour, response_streaming: bool, pool: futures.Executor | None):
    """A synchronous servicer method as an async one taking `(request, call)`: run on `pool` (None: in
    the caller, unary only), its context a ThreadContext over `call`, which needs only
    `time_remaining()` and `async abort(code, details)` (the studio's replicas pass their own)."""
    return _streaming(behaviour, pool) if response_streaming else _unary(behaviour, pool)
