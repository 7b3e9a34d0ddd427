"""How the plug-in reaches the server: gRPC through grpcio when GIMP's Python has it, else through the
vendored pure-Python stack (grpclib; see vendored.py).

Both clients (`server.shared.grpcio_client.GrpcioClient`, `server.shared.grpclib_client.GrpclibClient`) take
the same plain-dict requests, yield the same events and raise the same CallError, so nothing past
`connect` knows which one is in use. When GIMP kills the plug-in (the user cancelled) the connection
drops and the server stops the job, whichever stack made it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Protocol

import vendored
from server.shared import calls
from server.shared.errors import CallError

from .settings import Config, token_refusal

__all__ = ["CallError", "Client", "Connection", "TransportError", "connect"]


class TransportError(Exception):
    """No way to reach the server with these settings; the message says what to change."""


class Client(Protocol):
    """What GrpcioClient and GrpclibClient both offer."""

    def call(self, name: str, request: dict, timeout: float | None = None) -> Iterator[dict]:
        """The call's events as plain dicts; CallError when it fails."""

    def cancel(self) -> None:
        """Stop the call in progress, from any thread (it raises CallError CANCELLED); else nothing."""

    def close(self) -> None:
        """End the connection."""


Opener = Callable[[str, str | None], Client]  # (server, token) -> client


def grpcio_stack() -> tuple[Opener, str]:
    """(GrpcioClient, "grpcio X"); ImportError (or protobuf's version errors) when GIMP's Python lacks it."""
    import grpc  # first: without grpcio nothing of protobuf or the stubs gets imported here

    from server.shared.grpcio_client import GrpcioClient
    return GrpcioClient, f"grpcio {grpc.__version__}"


def pure_stack() -> tuple[Opener, str]:
    """(GrpclibClient, "pure-Python gRPC (grpclib X)") from vendor/pure-grpc; ImportError when it is missing."""
    vendored.use_pure_grpc()
    import grpclib

    from server.shared.grpclib_client import GrpclibClient
    return GrpclibClient, f"pure-Python gRPC (grpclib {grpclib.__version__})"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def choose_stack(transport: str) -> tuple[Opener, str]:
    """The gRPC stack `transport` asks for: auto prefers grpcio and falls back to the pure-Python one."""
    why_not = ""
    if transport in ("auto", "grpcio"):
        try:
            return grpcio_stack()
        except Exception as exc:  # ImportError, or a protobuf older than the stubs need (VersionError, ...)
            why_not = _describe(exc)
        if transport == "grpcio":
            raise TransportError("GIMP's Python cannot use grpcio. In Server settings, set the transport to "
                                 f"Automatic (the plug-in then uses its own pure-Python gRPC).\n({why_not})")
    try:
        return pure_stack()
    except Exception as exc:
        detail = f"\n({_describe(exc)}{'; grpcio: ' + why_not if why_not else ''})"
        if vendored.PURE_GRPC.is_dir():
            version = ".".join(map(str, sys.version_info[:2]))
            raise TransportError(f"GAN Collage's bundled gRPC does not work in this GIMP's Python {version} (it needs "
                                 f"Python 3.10 or newer).{detail}") from None
        raise TransportError(
            f"The GAN Collage plug-in folder is incomplete: its pure-Python gRPC files are missing "
            f"({vendored.PURE_GRPC}). Replace the folder {vendored.FOLDER} with the one `python3 install.py "
            f"--package-plugin OUT` makes (or run `python3 install.py --plugin-only`), then restart GIMP.{detail}"
        ) from None


@dataclass
class Connection:
    """A client and what its server said about itself: GetServerInfo and ListModels are asked once per
    connection (a new connection asks again: a restarted server may serve other models)."""
    client: Client
    description: str = ""  # "grpcio 1.85.3" or "pure-Python gRPC (grpclib 0.4.9)", for the connection test
    answered: bool = False  # the server has answered a call on this connection (see session.ServerStopped)
    _info: Optional[dict] = field(default=None, init=False, repr=False)
    _models: Optional[list] = field(default=None, init=False, repr=False)

    def events(self, name: str, request: dict, timeout: float | None) -> Iterator[calls.Progress | calls.Result]:
        """The call's typed events (server.shared.calls); CallError when it fails."""
        for event in calls.events(self.client, name, request, timeout):
            self.answered = True
            yield event

    def info(self, timeout: float | None) -> dict:
        """GetServerInfo: the server's version, device and limits."""
        if self._info is None:
            self._info = self._answer("GetServerInfo", timeout)
        return self._info

    def models(self, timeout: float | None) -> list:
        """ListModels' models."""
        if self._models is None:
            self._models = self._answer("ListModels", timeout)["models"]
        return self._models

    @property
    def introduced(self) -> bool:
        """Whether the server's info and models are known on this connection."""
        return self._info is not None and self._models is not None

    def _answer(self, name: str, timeout: float | None) -> dict:
        (event,) = self.events(name, {}, timeout)
        return event.payload

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def connect(config: Config) -> Connection:
    """A client for `config.server` over the stack `config.transport` asks for."""
    refusal = token_refusal(config.token)  # e.g. written into the settings file by hand
    if refusal:
        raise TransportError(f"{refusal} (In Filters > Generative > GAN Collage > Server settings.)")
    opener, description = choose_stack(config.transport)
    return Connection(opener(config.server, config.token or None), description)
