"""Addresses and connections: the default port, loopback detection, host:port formatting, how long a
request may take to arrive (no torch, no grpc)."""
from __future__ import annotations

import ipaddress

DEFAULT_PORT = 50051
# Seconds a call's request may take to arrive in full before the server drops the call: a 256 MiB
# request at 100 Mbit/s takes about 21 s, a plug-in's region a fraction of a second.
DEFAULT_READ_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP literals; any other name counts as reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
