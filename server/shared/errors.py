"""The one error every client raises: a failed call, named by its gRPC status code.

Standard library only, so the GIMP plug-in can catch it before it knows which gRPC stack it has.
"""
from __future__ import annotations


class CallError(Exception):
    """A call that failed: `code` is a gRPC status code name (UNAVAILABLE when the server cannot be reached)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
