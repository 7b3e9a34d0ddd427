"""A call's events as types: `Progress`, `Result` and `Failure`, each with the `Status` of the call it
tells; the CLI, the plug-in's session and its newest-wins worker all read a call through `events`.

Standard library only (the clients yield plain dicts, messages.py); the plug-in imports it before it has
chosen its gRPC stack.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Union

from .errors import CallError

BUSY = "queue is full"  # RESOURCE_EXHAUSTED with this: the server is busy, not the request too big


class Status(enum.Enum):
    """Where a call stands, as its latest event says."""
    QUEUED = "queued"            # waiting behind other jobs on the server
    WORKING = "working"          # the server is on it
    DONE = "done"                # answered
    CANCELLED = "cancelled"      # stopped by the client (or its server-side job was)
    UNAVAILABLE = "unavailable"  # the server cannot be reached (down, restarting, gone)
    BUSY = "busy"                # the server's queue is full: worth a later try
    FAILED = "failed"            # anything else: the error says what


@dataclass(frozen=True)
class Progress:
    stage: str = ""
    step: int = 0
    total: int = 0
    queue_position: int = 0

    @classmethod
    def of(cls, progress: dict) -> "Progress":
        return cls(progress.get("stage", ""), progress.get("step", 0), progress.get("total", 0),
                   progress.get("queue_position", 0))

    @property
    def status(self) -> Status:
        return Status.QUEUED if self.stage == "queued" else Status.WORKING

    @property
    def fraction(self) -> float:
        """Of the current stage done (0 while queued or when the stage has no steps)."""
        return self.step / self.total if self.total else 0.0

    def jobs_ahead(self) -> str:
        """"1 job ahead", "3 jobs ahead": a queued job's place."""
        return f"{self.queue_position} job{'s' if self.queue_position != 1 else ''} ahead"


@dataclass(frozen=True)
class Result:
    """A result (or, for Interpolate, one frame): the answer's payload as a plain dict."""
    payload: dict
    status = Status.DONE


@dataclass(frozen=True)
class Failure:
    """A call that did not answer; `retry_in`: seconds until a worker tries again by itself (0: it does not)."""
    error: Exception
    retry_in: float = 0.0

    @property
    def status(self) -> Status:
        return status_of(self.error)


Event = Union[Progress, Result, Failure]


def status_of(error: Exception) -> Status:
    """A failed call's status; an error that is not a CallError (the plug-in's own refusals) is FAILED."""
    if not isinstance(error, CallError):
        return Status.FAILED
    if error.code == "RESOURCE_EXHAUSTED" and BUSY in error.message:
        return Status.BUSY
    return {"CANCELLED": Status.CANCELLED, "UNAVAILABLE": Status.UNAVAILABLE}.get(error.code, Status.FAILED)


def events(client, name: str, request: dict, timeout: float | None) -> Iterator[Progress | Result]:
    """The call's events, typed; CallError when it fails (a worker turns that into a Failure)."""
    for event in client.call(name, request, timeout):
        kind = event["event"]
        yield Progress.of(event["progress"]) if kind == "progress" else Result(event[kind])


def payloads(events: Iterable[Progress | Result],
             on_progress: Callable[[Progress], None] = lambda progress: None) -> list:
    """The payloads of a call's results (Interpolate's frames), in order; each progress to `on_progress`."""
    answers = []
    for event in events:
        if isinstance(event, Progress):
            on_progress(event)
        else:
            answers.append(event.payload)
    return answers
