"""A grpcio client: plain-dict requests in, plain-dict events out (see messages.py).

The CLI and the plug-in (when GIMP's Python has grpcio) use it; `grpclib_client.GrpclibClient` is its
pure-Python twin with the same `call`.
"""
from __future__ import annotations

import threading
from typing import Iterator

import grpc

from . import messages
from .address import DEFAULT_SERVER, bearer
from .api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
from .errors import CallError

MAX_MESSAGE_BYTES = 1 << 30  # like the server's default limit


class GrpcioClient:
    """One channel to a server; `call` runs one method, `cancel` stops the call in progress."""

    def __init__(self, server: str = DEFAULT_SERVER, token: str | None = None, tls_ca: bytes | None = None):
        value = bearer(token)  # ValueError for a token that cannot be sent, before a channel is opened
        self.metadata = (("authorization", value),) if value else ()
        limits = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                  ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        if tls_ca is not None:
            self.channel = grpc.secure_channel(server, grpc.ssl_channel_credentials(tls_ca), options=limits)
        else:
            self.channel = grpc.insecure_channel(server, options=limits)
        self.stub = pb_grpc.GanCollageStub(self.channel)
        self._current = None
        self._lock = threading.Lock()

    def call(self, name: str, request: dict, timeout: float | None = None) -> Iterator[dict]:
        """Yield the call's events (see messages.py); raise CallError when it fails.

        A malformed request dict raises CallError INVALID_ARGUMENT before anything is sent; leaving
        the loop early cancels the call.
        """
        message = messages.outgoing(name, request)
        method = getattr(self.stub, name)
        streaming = messages.SERVICE.methods_by_name[name].server_streaming
        try:
            if streaming:
                call = method(message, timeout=timeout, metadata=self.metadata)
                with self._lock:
                    self._current = call
                for answer in call:
                    yield messages.event(answer)
            else:
                future = method.future(message, timeout=timeout, metadata=self.metadata)
                with self._lock:
                    self._current = future
                yield messages.event(future.result())
        except grpc.RpcError as exc:
            raise CallError(exc.code().name, exc.details() or "") from None
        except grpc.FutureCancelledError:
            raise CallError("CANCELLED", "cancelled by the client") from None
        finally:
            with self._lock:
                if self._current is not None:
                    self._current.cancel()  # a no-op once the call has ended
                self._current = None

    def cancel(self) -> None:
        """Cancel the call in progress (from any thread); it then raises CallError CANCELLED."""
        with self._lock:
            if self._current is not None:
                self._current.cancel()

    def health(self, service: str = "", timeout: float | None = 10.0) -> str:
        """The grpc.health.v1 status name, e.g. SERVING; CallError when unreachable."""
        # Imported here: GIMP's Python may have grpcio without grpcio-health-checking.
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout,
                                metadata=self.metadata)
        except grpc.RpcError as exc:
            raise CallError(exc.code().name, exc.details() or "") from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "GrpcioClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
