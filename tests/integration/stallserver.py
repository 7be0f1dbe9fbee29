"""A tiny HTTP endpoint on 127.0.0.1 that accepts connections and then stops making progress.

Two ways to misbehave, as real endpoints behind a broken load balancer or firewall do:

- ``silent``: accept the connection, read the request head, never answer;
- ``headers``: answer ``200 OK`` with the headers of a 1000-byte object, then never send the body.

The server records each request line it saw, so a test can tell how many attempts a client
made (a timed-out request is retried within ``s3.retries``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

StallMode = Literal["silent", "headers"]

_BODY_SIZE = 1000
_HEADERS = (
    "HTTP/1.1 200 OK\r\n"
    f"Content-Length: {_BODY_SIZE}\r\n"
    "Content-Type: application/octet-stream\r\n"
    'ETag: "0123456789abcdef"\r\n'
    "Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
    "x-ms-blob-type: BlockBlob\r\n"
    "x-ms-creation-time: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
    "Accept-Ranges: bytes\r\n"
    f"Content-Range: bytes 0-{_BODY_SIZE - 1}/{_BODY_SIZE}\r\n"
    "\r\n"
).encode()


class StallServer:
    """Listens on 127.0.0.1 (a free port) and stalls every request as ``mode`` says."""

    def __init__(self, mode: StallMode) -> None:
        self.mode = mode
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"stall-{mode}", daemon=True)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as persist names the endpoint in errors."""
        return f"127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return len(self._conns)

    def start(self) -> StallServer:
        """Start accepting connections in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, and close every connection (clients then see a reset)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        while not self._stop.is_set():
            try:
                piece = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not piece:
                return
            buffer += piece
            if b"\r\n\r\n" in buffer:
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                with self._lock:
                    self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                if self.mode == "headers":
                    try:
                        conn.sendall(_HEADERS)
                    except OSError:
                        return
                # Never answer (more): keep reading whatever the client sends, until closed.
                self._drain(conn)
                return

    def _drain(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


@contextmanager
def stall_server(mode: StallMode) -> Iterator[StallServer]:
    """A running :class:`StallServer`, closed on exit."""
    server = StallServer(mode).start()
    try:
        yield server
    finally:
        server.close()
