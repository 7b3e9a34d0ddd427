"""How the plug-in reaches the server: direct gRPC, or the bridge over pipes.

Direct: `server.client.direct.DirectClient`, when GIMP's Python can import grpc, protobuf and the
generated stubs. Bridge: `server.client.bridge_protocol.BridgeClient` (standard library only) spawns
the server environment's Python running `python -m server.client bridge`, which makes the gRPC calls.
Both take the same plain-dict requests and yield the same events, so nothing past `connect` knows
which one is in use.

install.py copies those client modules and the stubs into `vendor/` beside this file. When GIMP kills
the plug-in (the user cancelled), the gRPC connection drops or the bridge sees its stdin close, and the
server stops the job either way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import paths  # noqa: F401  (vendor/ on sys.path first)
from config import Config
from server.client.bridge_protocol import BridgeClient, CallError

__all__ = ["CallError", "Client", "Connection", "TransportError", "connect", "explain"]

BRIDGE_FAILURES = ("cannot start the bridge", "the bridge process exited")  # BridgeClient's own errors


class TransportError(Exception):
    """No way to reach the server with these settings; the message says what to change."""


class Client(Protocol):
    """What DirectClient and BridgeClient both offer (see server/client/bridge_protocol.py)."""

    def call(self, name: str, request: dict, timeout: float | None = None) -> Iterator[dict]:
        """The call's events as plain dicts; CallError when it fails."""

    def close(self) -> None:
        """End the connection (the bridge process too)."""


def direct_client_class() -> tuple[type[Client] | None, str]:
    """(DirectClient, "") when GIMP's Python can speak gRPC, else (None, why not)."""
    try:
        from server.client.direct import DirectClient
    except Exception as exc:  # ImportError, or grpc/protobuf older than the stubs need (RuntimeError, VersionError)
        return None, f"{type(exc).__name__}: {exc}"
    return DirectClient, ""


@dataclass
class Connection:
    client: Client     # DirectClient or BridgeClient
    description: str   # "direct gRPC" or "bridge (PYTHON)", for the connection test

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def connect(config: Config) -> Connection:
    """A client for `config.transport`: auto prefers direct gRPC and falls back to the bridge."""
    if config.transport in ("auto", "direct"):
        direct, why_not = direct_client_class()
        if direct is not None:
            return Connection(direct(config.server, config.token or None), "direct gRPC")
        if config.transport == "direct":
            raise TransportError(f"GIMP's Python cannot use gRPC ({why_not}). Install grpcio and protobuf for "
                                 "it, or set the transport to 'bridge' or 'auto' in GAN Collage's Server settings.")
    if not config.bridge_python:
        raise TransportError("GIMP's Python has no gRPC and no bridge is configured. Run `python3 install.py` "
                             "in the GAN Collage folder (it sets up the bridge), or set the bridge interpreter "
                             "and project folder in GAN Collage's Server settings.")
    bridge = BridgeClient(config.bridge_python, config.server, token=config.token or None,
                          root=config.project_root or None)
    return Connection(bridge, f"bridge ({config.bridge_python})")


def explain(error: CallError, config: Config) -> str:
    """What a failed call means for the artist, and what to do about it."""
    code, message = error.code, error.message
    if code == "UNAVAILABLE" and message.startswith(BRIDGE_FAILURES):
        return (f"The GAN Collage bridge failed: {message}\nCheck the bridge interpreter "
                f"({config.bridge_python}) and project folder ({config.project_root or 'not set'}) in Server "
                "settings, or run `python3 install.py` again.")
    if code == "UNAVAILABLE":
        return (f"Cannot reach the GAN Collage server at {config.server}. Start it with: {config.server_command()}"
                f"\n({message})")
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return f"The GAN Collage server refused the token: {message}\nSet the token in Server settings."
    if code == "DEADLINE_EXCEEDED":
        return (f"The GAN Collage server did not finish within {config.timeout:g} s. Use fewer steps or a "
                "smaller selection, or raise \"timeout\" in the plug-in's settings file.")
    if code == "RESOURCE_EXHAUSTED":
        return (f"The GAN Collage server is busy or out of memory: {message}\n"
                "Try again later, or use a smaller selection.")
    if code in ("INVALID_ARGUMENT", "NOT_FOUND", "OUT_OF_RANGE"):
        return f"The GAN Collage server refused the request: {message}"
    if code == "FAILED_PRECONDITION":
        return (f"The server's model cannot be used for this: {message}\nPick another model in Server settings, "
                "or start the server with another --model.")
    if code == "CANCELLED":
        return "The GAN Collage job was cancelled."
    return f"The GAN Collage server failed ({code}): {message}"
