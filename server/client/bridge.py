"""`python -m server.client bridge`: serve bridge_protocol frames from stdin/stdout over gRPC.

Calls run one at a time, in order. When stdin closes (the plug-in finished, or GIMP killed it) the
channel is closed, which cancels the call in progress on the server, and the bridge exits.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import BinaryIO

from .bridge_protocol import CallError, ProtocolError, read_frame, write_frame
from .direct import DirectClient

log = logging.getLogger(__name__)


def _answers(client: DirectClient, frame: dict):
    """The frames that answer one request frame: its events, then done or error."""
    try:
        yield from client.call(str(frame.get("call")), frame.get("request") or {}, frame.get("timeout"))
        yield {"event": "done"}
    except CallError as exc:
        yield {"event": "error", "code": exc.code, "message": exc.message}


def serve(client: DirectClient, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer request frames until stdin ends; 0 then, 1 when the protocol broke."""
    frames: queue.SimpleQueue = queue.SimpleQueue()
    gone = threading.Event()
    broken: list[str] = []

    def read():
        try:
            while (frame := read_frame(stdin)) is not None:
                frames.put(frame)
        except (ProtocolError, OSError) as exc:
            broken.append(str(exc))
        finally:
            gone.set()
            client.close()  # ends the call in progress and refuses new ones
            frames.put(None)

    threading.Thread(target=read, name="bridge-stdin", daemon=True).start()
    while (frame := frames.get()) is not None and not gone.is_set():
        try:
            for answer in _answers(client, frame):
                write_frame(stdout, answer)
        except BrokenPipeError:  # the plug-in is gone
            break
        except ValueError:  # grpc refuses calls on the closed channel
            if not gone.is_set():
                raise
            break
    if broken:
        log.error("bridge: %s", broken[0])
        return 1
    return 0
