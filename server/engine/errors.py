"""Typed engine errors; the rpc layer maps each to one gRPC status code."""
from __future__ import annotations

import functools


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
    """The device ran out of memory for this request; the engine stays usable (RESOURCE_EXHAUSTED)."""


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


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def translate_oom(fn):
    """Re-raise a device or host OOM from `fn` as OutOfMemory, after the failed call's tensors are released."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (MemoryError, RuntimeError) as exc:  # MemoryError: numpy's "Unable to allocate", Python's own
            if not isinstance(exc, MemoryError) and not _is_oom(exc):
                raise
            message = str(exc).splitlines()[0] if str(exc) else "out of memory"
        # Outside the except block the traceback (and the tensors its frames hold) is gone.
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise OutOfMemory(f"the device ran out of memory: {message}")

    return wrapper
