"""A pure-Python gRPC client (grpclib over asyncio, h2, protobuf's Python runtime) with GrpcioClient's
interface, for Pythons that cannot install grpcio (GIMP on Windows, macOS and Flatpak).

It uses the same generated messages (`gancollage_pb2`, not a grpclib stub) and raises the same
CallError codes. Each call runs the client's private event loop only while the caller waits for the
next event, so the plug-in stays single-threaded; `cancel` (from any thread) cancels the step that loop
is running, which resets the HTTP/2 stream. When the process is killed (GIMP's Cancel) the TCP
connection drops and the server ends the job, as with grpcio.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Iterator

from grpclib.client import Channel, UnaryStreamMethod, UnaryUnaryMethod
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from . import messages
from .address import DEFAULT_SERVER, bearer, split_address
from .api.gancollage.v1 import gancollage_pb2 as pb
from .errors import CallError


class GrpclibClient:
    """One HTTP/2 connection to a server; `call` runs one method at a time, `cancel` stops it."""

    def __init__(self, server: str = DEFAULT_SERVER, token: str | None = None):
        self.host, self.port = split_address(server)
        value = bearer(token)  # ValueError for a token that cannot be sent
        self.metadata = {"authorization": value} if value else None
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()  # guards the three fields below, which `cancel` reads from other threads
        self._calling = False  # a call is in progress
        self._cancelled = False  # ... and `cancel` was asked to stop it
        self._step: asyncio.Task | None = None  # the task the loop is running for that call, if any
        self._channel = self._run(self._open())

    async def _open(self) -> Channel:
        return Channel(self.host, self.port)  # binds to the running loop: this client's own

    def _run(self, work):
        return self._loop.run_until_complete(work)

    def _method(self, name: str):
        method = messages.SERVICE.methods_by_name[name]
        kind = UnaryStreamMethod if method.server_streaming else UnaryUnaryMethod
        return kind(self._channel, f"/{messages.SERVICE.full_name}/{name}", getattr(pb, method.input_type.name),
                    getattr(pb, method.output_type.name))

    async def _answers(self, name: str, message, timeout: float | None):
        async with self._method(name).open(timeout=timeout, metadata=self.metadata) as stream:
            await stream.send_message(message, end=True)
            while (answer := await stream.recv_message()) is not None:
                yield messages.event(answer)
            await stream.recv_trailing_metadata()  # raises GRPCError for a failed status

    def call(self, name: str, request: dict, timeout: float | None = None) -> Iterator[dict]:
        """Yield the call's events; raise CallError when it fails. Leaving the loop early cancels the call."""
        message = messages.outgoing(name, request)
        answers = self._answers(name, message, timeout)
        with self._lock:
            self._calling, self._cancelled = True, False
        try:
            while True:
                try:
                    event = self._step_through(answers)
                except StopAsyncIteration:
                    return
                yield event
        except asyncio.CancelledError:
            raise CallError("CANCELLED", "cancelled by the client") from None
        except GRPCError as exc:
            raise CallError(exc.status.name, exc.message or "") from None
        except (asyncio.TimeoutError, TimeoutError):
            raise CallError("DEADLINE_EXCEEDED", f"no answer within {timeout:g} s") from None
        except (OSError, StreamTerminatedError, ProtocolError) as exc:
            raise CallError("UNAVAILABLE", f"{type(exc).__name__}: {exc}") from None
        except AttributeError as exc:
            if not _connection_gone(exc):
                raise
            raise CallError("UNAVAILABLE", "the connection closed") from None
        finally:
            with self._lock:
                self._calling = False
            self._close(answers)

    def _close(self, answers) -> None:
        """Reset the stream when the caller stopped early or cancelled; on a connection that is gone
        (the server died) there is nothing left to reset."""
        try:
            self._run(answers.aclose())
        except (OSError, StreamTerminatedError, ProtocolError):
            pass
        except AttributeError as exc:
            if not _connection_gone(exc):
                raise

    def _step_through(self, answers) -> dict:
        """The next event, as a task that `cancel` can cancel; CancelledError once `cancel` was called."""
        with self._lock:
            if self._cancelled:
                raise asyncio.CancelledError
            self._step = self._loop.create_task(answers.__anext__())
        try:
            event = self._run(self._step)
        finally:
            with self._lock:
                self._step, cancelled = None, self._cancelled
        if cancelled:  # asked while the step was finishing: drop its event
            raise asyncio.CancelledError
        return event

    def cancel(self) -> None:
        """Cancel the call in progress (from any thread); it then raises CallError CANCELLED. Without a call
        in progress it does nothing."""
        with self._lock:
            if not self._calling or self._loop.is_closed():
                return
            self._cancelled = True
            if self._step is not None:
                # Runs in the loop's thread; a no-op should the step be done by then (the flag still holds).
                self._loop.call_soon_threadsafe(self._step.cancel)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._channel.close()
            self._loop.close()

    def __enter__(self) -> "GrpclibClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _connection_gone(exc: AttributeError) -> bool:
    """grpclib writing on a connection it has already closed: its protocol drops `_transport` when
    the connection is lost (a server killed mid-call), and a write after that raises this."""
    return "_transport" in str(exc)
