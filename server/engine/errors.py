"""Typed engine errors; the rpc layer maps each to one gRPC status code."""
from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidInput(EngineError, ValueError):
    """A request that cannot be served as given (INVALID_ARGUMENT). `field` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class Cancelled(EngineError):
    """The caller cancelled, or stopped waiting (CANCELLED)."""


class OutOfMemory(EngineError):
    """The device ran out of memory for this request; the engine stays usable (RESOURCE_EXHAUSTED)."""


class ModelUnavailable(EngineError):
    """The model cannot be loaded or lacks a part the request needs (FAILED_PRECONDITION)."""
