"""Engine and job errors -> gRPC status codes; engine field names -> request paths."""
from __future__ import annotations

import re

import grpc

from server.engine.errors import Cancelled, FieldError, InvalidInput, ModelUnavailable, OutOfMemory, TooLarge
from server.jobs import DeadlineExceeded, QueueFull

# (engine error, code), most specific first
CODES = (
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (ModelUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (OutOfMemory, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (MemoryError, grpc.StatusCode.RESOURCE_EXHAUSTED),  # e.g. decoding a request, outside the engine
    (QueueFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Cancelled, grpc.StatusCode.CANCELLED),
)

Renames = tuple[tuple[str, str], ...]  # (pattern matching an engine field's head, request path)

MAX_MESSAGE_CHARS = 600  # a status message stays far below gRPC's metadata limits

# The engine names its arguments after the request's fields, so only the canvas, which a request
# nests (and Project builds from its image), needs mapping; everything else keeps its name.
REALIZE = ((r"layers\[(\d+)\]\.visible", r"canvas.layers[\1].hidden"),
           (r"(width|height|layers|selection|selection_x|selection_y)", r"canvas.\1"))
PROJECT = ((r"layers\[0\]\.(image|mask)", r"\1"), (r"layers", "image"))


def request_path(field: str, renames: Renames) -> str:
    """Rewrite the head of an engine field (up to a '.' or '[' boundary) by the first matching rule."""
    for pattern, replacement in renames:
        match = re.match(rf"{pattern}(?=$|[.\[])", field)
        if match:
            return match.expand(replacement) + field[match.end():]
    return field


def status_of(exc: BaseException, renames: Renames = ()) -> tuple[grpc.StatusCode, str] | None:
    """The status for an expected error, or None for anything else (a bug: INTERNAL)."""
    for kind, code in CODES:
        if isinstance(exc, kind):
            if isinstance(exc, FieldError):
                message = f"{request_path(exc.field, renames)}: {str(exc).removeprefix(f'{exc.field}: ')}"
            elif isinstance(exc, MemoryError):
                message = "the server ran out of memory for this request; send a smaller one"
            else:
                message = str(exc)
            return code, short(message)
    return None


def short(message: str) -> str:
    """The message, cut to MAX_MESSAGE_CHARS (the engine's messages already avoid echoing inputs)."""
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 3] + "..."
