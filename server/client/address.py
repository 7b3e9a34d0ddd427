"""The server's default address and HOST:PORT parsing, for every client (standard library only)."""
from __future__ import annotations

from .errors import CallError

DEFAULT_SERVER = "127.0.0.1:50051"  # `python -m server` with no flags


def split_address(server: str) -> tuple[str, int]:
    """("::1", 50051) from "[::1]:50051"; CallError INVALID_ARGUMENT for an address without a port."""
    host, _, port = server.strip().rpartition(":")
    if not host or not port.isdigit():
        raise CallError("INVALID_ARGUMENT", f"the server address {server!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
