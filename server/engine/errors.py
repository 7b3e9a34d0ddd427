"""Typed engine errors; the rpc layer maps each to one gRPC status code."""
from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class FieldError(EngineError):
    """An error about one field of a request; `field` names it (the message starts with it)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidInput(FieldError, ValueError):
    """A request that cannot be served as given (INVALID_ARGUMENT)."""


class TooLarge(FieldError):
    """A request beyond the server's size limits (RESOURCE_EXHAUSTED)."""


class Cancelled(EngineError):
    """The caller cancelled, or stopped waiting (CANCELLED)."""


class OutOfMemory(EngineError):
    """The device ran out of memory for this request (every job's, jobs.py); the engine stays usable
    (RESOURCE_EXHAUSTED)."""


class ModelUnavailable(EngineError):
    """The model cannot be loaded or lacks a part the request needs (FAILED_PRECONDITION)."""


SHOWN_CHARS = 40


def shown(value) -> str:
    """`value`'s repr for an error message, cut short: a message never echoes a long input back."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def pixel_count(pixels: int) -> str:
    """A pixel count for a message: "900 pixels", "33.6 megapixels"."""
    return f"{pixels:,} pixels" if pixels < 100_000 else f"{pixels / 1e6:.1f} megapixels"

