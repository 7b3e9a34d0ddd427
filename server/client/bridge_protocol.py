"""The bridge's pipe protocol and a client for it. Standard library only: the GIMP plug-in copies this
file and runs it in GIMP's own Python, which may have neither grpc, protobuf nor numpy.

The plug-in spawns `python -m server.client bridge --server HOST:PORT` (in the server's environment)
and talks to it over the child's stdin and stdout, one call at a time.

Frame (both ways)::

    u32 big-endian N | N bytes of UTF-8 JSON (the header) | blob 0 | blob 1 | ...

The header is a JSON object. Binary values (pixels) travel as blobs after it: in the header each is
replaced by `{"$blob": i}`, and the header's `"$blobs"` lists the blobs' lengths in order. Decoding
puts the bytes back, so both sides deal in plain dicts, lists, numbers, strings and bytes.

Request frame, plug-in -> bridge::

    {"call": "Realize", "request": {...}, "timeout": 120.0}

`call` is a method of the gancollage.v1.GanCollage service; `request` is its request message as a
plain dict with the proto's field names (bytes for `rgba`, `rgb`, `data` and `png`; enums by name,
with or without their prefix: "optimize" or "METHOD_OPTIMIZE"); `timeout` (seconds, optional)
becomes the call's gRPC deadline. Event frames, bridge -> plug-in, until the call ends::

    {"event": "progress", "progress": {...}}     a Progress message (streaming calls)
    {"event": "result", "result": {...}}         Realize/Project result, or a unary call's response
    {"event": "frame", "frame": {...}}           one InterpolateFrame per frame
    {"event": "done"}                            the call succeeded; nothing follows
    {"event": "error", "code": "INVALID_ARGUMENT", "message": "canvas.width: ..."}

In answers every scalar field is present (0, "" or false when unset) and message fields are present
only when set. `code` is a gRPC status code name. To cancel, kill the bridge (`BridgeClient.cancel`);
it also stops, cancelling its call, when its stdin closes.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
from typing import Any, BinaryIO, Iterator

MAX_HEADER_BYTES = 64 << 20
_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """A malformed or truncated frame."""


class CallError(Exception):
    """A call that failed: `code` is a gRPC status code name (UNAVAILABLE when the bridge died)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------- frames


def _extract(value: Any, blobs: list) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        blobs.append(value)
        return {"$blob": len(blobs) - 1}
    if isinstance(value, dict):
        return {key: _extract(item, blobs) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_extract(item, blobs) for item in value]
    return value


def _insert(value: Any, blobs: list) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$blob" in value:
            return blobs[value["$blob"]]
        return {key: _insert(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [_insert(item, blobs) for item in value]
    return value


def write_frame(stream: BinaryIO, message: dict) -> None:
    blobs: list = []
    header = _extract(message, blobs)
    header["$blobs"] = [memoryview(blob).nbytes for blob in blobs]
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise ProtocolError(f"the stream ended inside a frame ({size - left} of {size} bytes read)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> dict | None:
    """The next frame, or None when the stream ends cleanly between frames."""
    first = stream.read(_LENGTH.size)
    if not first:
        return None
    prefix = first + _read_exact(stream, _LENGTH.size - len(first))
    (size,) = _LENGTH.unpack(prefix)
    if size > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {size} bytes is larger than {MAX_HEADER_BYTES}")
    try:
        header = json.loads(_read_exact(stream, size).decode("utf-8"))
        lengths = header.pop("$blobs", [])
    except (UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"unreadable frame header: {exc}") from None
    if not all(isinstance(n, int) and n >= 0 for n in lengths):
        raise ProtocolError(f"bad blob lengths {lengths!r}")
    return _insert(header, [_read_exact(stream, n) for n in lengths])


# --------------------------------------------------------------------------------------- client


class BridgeClient:
    """Spawns the bridge on first use and runs calls through it, one at a time.

    `python` is the server environment's interpreter and `root` the folder holding the `server`
    package. The token travels in the child's environment, not on its command line.

        with BridgeClient(python, "127.0.0.1:50051", root=root) as bridge:
            for event in bridge.call("Realize", request, timeout=600):
                ...  # event["event"] is "progress", "result" or "frame"; errors raise CallError
    """

    def __init__(self, python: str, server: str, token: str | None = None, root: str | None = None,
                 extra_args: tuple[str, ...] = ()):
        self.command = [python, "-m", "server.client", "bridge", "--server", server, *extra_args]
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        if token:
            self.env["GANCOLLAGE_TOKEN"] = token
        self.root = root
        self._process: subprocess.Popen | None = None
        self._stderr = None

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._stderr = tempfile.TemporaryFile()
            try:
                self._process = subprocess.Popen(self.command, cwd=self.root, env=self.env, stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, stderr=self._stderr)
            except OSError as exc:
                self._stderr.close()
                raise CallError("UNAVAILABLE", f"cannot start the bridge {self.command[0]}: {exc}") from None
        return self._process

    def _died(self) -> CallError:
        process = self._process
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return CallError("UNAVAILABLE", f"the bridge process exited with code {code}" + (f": {tail}" if tail else ""))

    def call(self, name: str, request: dict, timeout: float | None = None) -> Iterator[dict]:
        """Yield the call's progress/result/frame events; raise CallError when it fails.

        Leaving the loop early cancels the call (the bridge is killed; the next call starts another).
        """
        process = self._start()
        frame = {"call": name, "request": request}
        if timeout is not None:
            frame["timeout"] = timeout
        try:
            write_frame(process.stdin, frame)
        except OSError:
            raise self._died() from None
        finished = False
        try:
            while True:
                try:
                    event = read_frame(process.stdout)
                except ProtocolError:
                    event = None
                if event is None:
                    finished = True
                    raise self._died()
                kind = event.get("event")
                if kind in ("done", "error"):
                    finished = True
                    if kind == "error":
                        raise CallError(event.get("code", "UNKNOWN"), event.get("message", ""))
                    return
                yield event
        finally:
            if not finished:
                self.cancel()

    def cancel(self) -> None:
        """Kill the bridge: its call is cancelled on the server. The next call starts a new bridge."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def close(self) -> None:
        """Let the bridge exit (it does when its stdin closes); kill it if it lingers."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.stdin.close()
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.cancel()
        for stream in (process.stdout, process.stdin, self._stderr):
            if stream is not None and not stream.closed:
                stream.close()
        self._process = None

    def __enter__(self) -> "BridgeClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
