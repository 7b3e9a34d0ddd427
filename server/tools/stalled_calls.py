"""gRPC calls whose request never completes, made over raw HTTP/2 (the `h2` library, a dev dependency).

Each call sends its HEADERS and a DATA frame holding the start of a gRPC message (a length prefix
announcing STALLED_MESSAGE_BYTES, then a few of them) and never the rest, nor END_STREAM. Otherwise
the client is a well-behaved peer: one thread reads every connection, acknowledges SETTINGS and
answers PINGs, so nothing but the unfinished request is hostile. `ended` records when the server
ended each call (trailers or RST_STREAM) and with which grpc-status.

    with StalledCalls("127.0.0.1:50051", ["/gancollage.v1.GanCollage/Realize"] * 8, per_connection=4) as calls:
        ...                                  # the server holds 8 calls whose requests never arrive
        calls.ended                          # {(connection, stream id): (seconds after opening, status)}
"""
from __future__ import annotations

import selectors
import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events

STALLED_MESSAGE_BYTES = 1024  # what the message's length prefix announces
SENT_BYTES = 10  # of it, what is sent


class StalledCalls:
    """Calls to `paths` (method paths, one call each), `per_connection` of them on each connection."""

    def __init__(self, address: str, paths: list[str], per_connection: int = 1):
        host, port = address.rsplit(":", 1)
        self.authority = address
        self.opened = time.monotonic()
        self.ended: dict[tuple[int, int], tuple[float, str]] = {}
        self._statuses: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._connections: list[tuple[socket.socket, h2.connection.H2Connection, list[int]]] = []
        self.calls = len(paths)
        for start in range(0, len(paths), per_connection):
            self._open(host.strip("[]"), int(port), paths[start:start + per_connection])
        self._running = True
        self._reader = threading.Thread(target=self._read, name="stalled-calls", daemon=True)
        self._reader.start()

    def _open(self, host: str, port: int, paths: list[str]) -> None:
        sock = socket.create_connection((host, port), timeout=10)
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        connection.initiate_connection()
        partial = b"\0" + struct.pack(">I", STALLED_MESSAGE_BYTES) + bytes(SENT_BYTES)
        streams = []
        for path in paths:
            stream = connection.get_next_available_stream_id()
            streams.append(stream)
            connection.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                             (":authority", self.authority), ("content-type", "application/grpc"),
                                             ("te", "trailers")])
            connection.send_data(stream, partial)
        sock.sendall(connection.data_to_send())
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, len(self._connections))
        self._connections.append((sock, connection, streams))

    def _read(self) -> None:
        while self._running and self._selector.get_map():
            for key, _ in self._selector.select(timeout=0.1):
                sock, connection, _ = self._connections[key.data]
                try:
                    data = sock.recv(1 << 16)
                    for event in connection.receive_data(data) if data else ():
                        self._note(key.data, event)
                    if data:
                        sock.sendall(connection.data_to_send())
                        continue
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    pass
                self._closed(key.data)

    def _closed(self, index: int) -> None:
        """The server closed connection `index`: its calls that were still open ended with it."""
        sock, _, streams = self._connections[index]
        self._selector.unregister(sock)
        with self._lock:
            for stream in streams:
                self.ended.setdefault((index, stream), (time.monotonic() - self.opened, "connection closed"))

    def _note(self, index: int, event) -> None:
        """Keep the grpc-status a response's headers or trailers carry; note when a call ends."""
        if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
            status = dict(event.headers).get("grpc-status")
            if status is not None:
                self._statuses[index, event.stream_id] = status
        elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
            status = "RST_STREAM" if isinstance(event, h2.events.StreamReset) else \
                self._statuses.get((index, event.stream_id), "no status")
            with self._lock:
                self.ended.setdefault((index, event.stream_id), (time.monotonic() - self.opened, status))

    def wait_ended(self, timeout: float) -> bool:
        """Wait until the server has ended every call; False when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.ended) == self.calls:
                    return True
            time.sleep(0.05)
        return len(self.ended) == self.calls

    def close(self) -> None:
        self._running = False
        self._reader.join(5)
        for sock, _, _ in self._connections:
            sock.close()
        self._selector.close()

    def __enter__(self) -> "StalledCalls":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
