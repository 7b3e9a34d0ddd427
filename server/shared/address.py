"""How every client reaches the server: its default address, HOST:PORT parsing, and the token's form
(standard library only)."""
from __future__ import annotations

from .errors import CallError

DEFAULT_SERVER = "127.0.0.1:50051"  # `python -m server` with no flags


def split_address(server: str) -> tuple[str, int]:
    """("::1", 50051) from "[::1]:50051"; CallError INVALID_ARGUMENT for an address without a port."""
    host, _, port = server.strip().rpartition(":")
    if not host or not port.isdigit():
        raise CallError("INVALID_ARGUMENT", f"the server address {server!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def token_problem(token: str) -> str:
    """Why `token` cannot travel in gRPC metadata (`authorization: Bearer TOKEN`), in plain words; "" when
    it can. Metadata values are printable ASCII (else grpcio fails every call with INTERNAL "Invalid
    metadata" and grpclib raises) and HTTP/2 forbids a space at the end; the plug-in's settings trim
    spaces at either end, so a token that has them could never match."""
    odd = next((char for char in token if not " " <= char <= "~"), None)
    if odd is not None:
        return f"it holds {odd!r}, and a token may hold only ASCII letters, digits, punctuation and spaces"
    if token != token.strip():
        return "it starts or ends with a space"
    return ""


def bearer(token: str | None) -> str | None:
    """The `authorization` metadata value for `token` (None without one); ValueError when it cannot be sent."""
    if not token:
        return None
    problem = token_problem(token)
    if problem:
        raise ValueError(f"the token cannot be sent to the server: {problem}")
    return f"Bearer {token}"
