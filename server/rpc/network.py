"""Addresses: the default port, loopback detection, host:port formatting (no torch, no grpc)."""
from __future__ import annotations

import ipaddress

DEFAULT_PORT = 50051


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
