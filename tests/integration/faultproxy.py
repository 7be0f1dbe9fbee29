"""A small HTTP reverse proxy that injects S3-style failures in front of a test server.

Put it between a client and moto to make the first few matching requests fail, then forward
everything else unchanged::

    with FaultProxy(s3_endpoint) as proxy:
        proxy.fail_first(2, "slowdown")  # the next two PUT/POST requests get 503 SlowDown
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": proxy.url}, ...)
        ...
        assert proxy.failures_injected == 2

Failure modes:

- ``"slowdown"``: answer ``503 Service Unavailable`` with S3's ``SlowDown`` XML error body.
- ``"reset"``: close the client connection without answering, with ``SO_LINGER`` 0 so the
  client sees a TCP reset.

Access refusal (:meth:`FaultProxy.deny`), independent of injected failures, makes the proxy act
as a public bucket that rejects credentials: ``"signed"`` answers every signed request (an
``Authorization`` header, or a presigned URL's ``X-Amz-Signature`` or ``Signature`` query
parameter) with ``403 AccessDenied`` and forwards anonymous ones; ``"all"`` refuses anonymous requests too.

Forwarding keeps the method, the request target (path and query) and all end-to-end headers,
including the client's ``Host`` header, which botocore signs; the proxy connects to the upstream
by address. Request bodies are streamed with their framing (``Content-Length`` or chunked, which
also carries ``aws-chunked`` payloads). Client connections may be kept alive; each forwarded
request uses its own upstream connection. Only the standard library is used.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import http.server
import socket
import socketserver
import struct
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from types import TracebackType

FailureMode = Literal["slowdown", "reset"]
"""How an injected failure looks to the client."""

DenyMode = Literal["signed", "all"]
"""Which requests :meth:`FaultProxy.deny` refuses with 403 AccessDenied."""

DEFAULT_FAIL_METHODS: frozenset[str] = frozenset({"PUT", "POST"})
"""Methods counted toward injected failures unless told otherwise: the writes."""

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>%s</RequestId><HostId>faultproxy</HostId></Error>"
)
"""S3 ``SlowDown`` error document; ``%s`` takes the request id."""

ACCESS_DENIED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    b"<RequestId>%s</RequestId><HostId>faultproxy</HostId></Error>"
)
"""S3 ``AccessDenied`` error document; ``%s`` takes the request id."""

_CHUNK = 64 * 1024
_UPSTREAM_TIMEOUT = 120.0
_CLIENT_IDLE_TIMEOUT = 120.0

# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded. Transfer-Encoding is handled
# separately: request bodies keep their framing, response bodies are re-framed.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)


class FaultProxy:
    """Threaded HTTP reverse proxy in front of ``upstream`` that can fail requests on demand.

    Usage::

        with FaultProxy("http://127.0.0.1:5000") as proxy:
            proxy.fail_first(1, "reset", methods={"GET"})
            ...  # point the client at proxy.url

    Args:
        upstream: Base URL of the server to forward to, ``http://host:port``.
        verbose: Log each request to stderr.
    """

    def __init__(self, upstream: str, *, verbose: bool = False) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.upstream_host: str = parsed.hostname
        self.upstream_port: int = parsed.port or 80
        self.verbose = verbose
        self._lock = threading.Lock()
        self._remaining = 0
        self._mode: FailureMode = "slowdown"
        self._methods: frozenset[str] = DEFAULT_FAIL_METHODS
        self._requests_seen: collections.Counter[str] = collections.Counter()
        self._failures_injected = 0
        self._deny: DenyMode | None = None
        self._denied = 0
        self._anonymous_forwarded = 0
        self._connections_accepted = 0
        self._open_connections: set[socket.socket] = set()
        self._all_closed = threading.Condition(self._lock)
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, self)
        self._thread: threading.Thread | None = None
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        """Base URL clients should use instead of the upstream URL."""

    # -- configuration -------------------------------------------------------------------

    def fail_first(
        self, n: int, mode: FailureMode = "slowdown", methods: Iterable[str] | None = None
    ) -> None:
        """Make the next ``n`` requests whose method is in ``methods`` fail with ``mode``.

        Counters are kept; see :meth:`reset` to clear them too.

        Args:
            n: Number of matching requests to fail (0 disables injection).
            mode: ``"slowdown"`` (HTTP 503 SlowDown) or ``"reset"`` (TCP reset).
            methods: HTTP methods that count; default PUT and POST.

        Raises:
            ValueError: ``n`` is negative or ``mode`` is unknown.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if mode not in ("slowdown", "reset"):
            raise ValueError(f"mode must be 'slowdown' or 'reset', got {mode!r}")
        chosen = DEFAULT_FAIL_METHODS if methods is None else frozenset(m.upper() for m in methods)
        with self._lock:
            self._remaining = n
            self._mode = mode
            self._methods = chosen

    def reset(self, n: int = 0, mode: FailureMode = "slowdown", methods: Iterable[str] | None = None) -> None:
        """Clear all counters, then arm ``n`` failures as :meth:`fail_first` does.

        Args:
            n: Number of matching requests to fail (default 0: forward everything).
            mode: ``"slowdown"`` or ``"reset"``.
            methods: HTTP methods that count; default PUT and POST.
        """
        with self._lock:
            self._requests_seen.clear()
            self._failures_injected = 0
            self._denied = 0
            self._anonymous_forwarded = 0
            self._connections_accepted = 0
        self.fail_first(n, mode, methods)

    def deny(self, which: DenyMode | None) -> None:
        """Refuse requests with 403 AccessDenied: ``"signed"`` ones, ``"all"``, or none (``None``).

        Raises:
            ValueError: ``which`` is not ``"signed"``, ``"all"`` or ``None``.
        """
        if which not in ("signed", "all", None):
            raise ValueError(f"which must be 'signed', 'all' or None, got {which!r}")
        with self._lock:
            self._deny = which

    # -- observation -----------------------------------------------------------------------

    @property
    def requests_seen(self) -> collections.Counter[str]:
        """Requests received per HTTP method, injected failures included (a copy)."""
        with self._lock:
            return collections.Counter(self._requests_seen)

    @property
    def total_requests(self) -> int:
        """Number of requests received, injected failures included."""
        with self._lock:
            return sum(self._requests_seen.values())

    @property
    def failures_injected(self) -> int:
        """Number of requests answered with an injected failure."""
        with self._lock:
            return self._failures_injected

    @property
    def denied(self) -> int:
        """Number of requests refused with 403 AccessDenied by :meth:`deny`."""
        with self._lock:
            return self._denied

    @property
    def anonymous_forwarded(self) -> int:
        """Number of unsigned requests forwarded upstream."""
        with self._lock:
            return self._anonymous_forwarded

    @property
    def failures_remaining(self) -> int:
        """Number of failures still armed."""
        with self._lock:
            return self._remaining

    @property
    def connections_accepted(self) -> int:
        """Number of client connections accepted (shows whether clients keep connections)."""
        with self._lock:
            return self._connections_accepted

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start serving in a background thread.

        Returns:
            The proxy itself.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"faultproxy-{self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, drop open client connections and wait for handler threads."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        with self._lock:
            open_connections = list(self._open_connections)
        for conn in open_connections:
            # Wakes a handler blocked reading the next keep-alive request.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._all_closed:
            self._all_closed.wait_for(lambda: not self._open_connections, timeout=10.0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- used by the handler -----------------------------------------------------------------

    def _register(self, request: http.server.BaseHTTPRequestHandler) -> FailureMode | Literal["deny"] | None:
        """Count a request and return the failure to inject, if any."""
        method = request.command or ""
        signed = _is_signed(request)
        with self._lock:
            self._requests_seen[method] += 1
            if self._deny == "all" or (self._deny == "signed" and signed):
                self._denied += 1
                return "deny"
            if self._remaining > 0 and method in self._methods:
                self._remaining -= 1
                self._failures_injected += 1
                return self._mode
            if not signed:
                self._anonymous_forwarded += 1
        return None

    def _connection_opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections_accepted += 1
            self._open_connections.add(conn)

    def _connection_closed(self, conn: socket.socket) -> None:
        with self._all_closed:
            self._open_connections.discard(conn)
            self._all_closed.notify_all()


def _is_signed(request: http.server.BaseHTTPRequestHandler) -> bool:
    """Whether a request carries AWS credentials: an Authorization header or a presigned query."""
    if request.headers.get("Authorization"):
        return True
    query = urllib.parse.urlsplit(request.path).query
    # X-Amz-Signature: SigV4 presigned URLs; Signature: the SigV2 ones boto3 still makes for S3.
    return any(name.lower() in ("x-amz-signature", "signature") for name, _ in urllib.parse.parse_qsl(query))


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[socketserver.BaseRequestHandler],
        proxy: FaultProxy,
    ) -> None:
        self.proxy = proxy
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs in the serving thread, so close() sees every accepted connection.
        self.proxy._connection_opened(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.proxy._connection_closed(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients going away mid-request are expected; anything else is a proxy bug.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _CLIENT_IDLE_TIMEOUT
    server: _ProxyServer

    _aborted = False

    # -- connection lifecycle -------------------------------------------------------------------

    def finish(self) -> None:
        if not self._aborted:
            super().finish()

    def handle_expect_100(self) -> bool:
        # Decide per request: forwarding sends "100 Continue", an injected failure does not.
        return True

    def log_message(self, format: str, *args: object) -> None:
        if self.server.proxy.verbose:
            super().log_message(format, *args)

    # -- request handling ------------------------------------------------------------------------

    def _handle(self) -> None:
        failure = self.server.proxy._register(self)
        expects_continue = self.headers.get("Expect", "").lower() == "100-continue"
        if failure == "reset":
            if not expects_continue:
                self._drain_body()
            self._abort()
        elif failure in ("slowdown", "deny"):
            if expects_continue:
                # The client holds the body back until it sees 100 Continue, so answer now
                # and close: the connection's state is ambiguous if it sends the body anyway.
                self.close_connection = True
            else:
                self._drain_body()
            if failure == "deny":
                self._send_error_document(403, "Forbidden", ACCESS_DENIED_BODY)
            else:
                self._send_error_document(503, "Slow Down", SLOWDOWN_BODY)
        else:
            if expects_continue:
                self.send_response_only(100)
                self.end_headers()
            self._forward()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _abort(self) -> None:
        """Close the client connection with a TCP reset and no response."""
        self._aborted = True
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket; close it first so close() really closes.
        with contextlib.suppress(OSError):
            self.rfile.close()
        with contextlib.suppress(OSError):
            sock.close()

    def _send_error_document(self, status: int, reason: str, template: bytes) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        body = template % request_id.encode()
        self.send_response_only(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", request_id)
        self.send_header("Date", self.date_time_string())
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- request bodies --------------------------------------------------------------------------

    def _is_chunked(self) -> bool:
        encodings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        return "chunked" in encodings.lower()

    def _content_length(self) -> int:
        value = self.headers.get("Content-Length")
        return int(value) if value and value.strip().isdigit() else 0

    def _body_pieces(self) -> Iterable[bytes]:
        """Yield the raw request body, framing included for chunked bodies."""
        if self._is_chunked():
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ConnectionError("client closed inside a chunked body")
                yield size_line
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer fields, then the empty line that ends the body.
                    while True:
                        line = self.rfile.readline(65537)
                        if not line:
                            raise ConnectionError("client closed inside chunked trailers")
                        yield line
                        if line in (b"\r\n", b"\n"):
                            return
                remaining = size + 2  # chunk data and its CRLF
                while remaining:
                    data = self.rfile.read(min(_CHUNK, remaining))
                    if not data:
                        raise ConnectionError("client closed inside a chunk")
                    remaining -= len(data)
                    yield data
        else:
            remaining = self._content_length()
            while remaining:
                data = self.rfile.read(min(_CHUNK, remaining))
                if not data:
                    raise ConnectionError("client closed before sending the whole body")
                remaining -= len(data)
                yield data

    def _drain_body(self) -> None:
        for _ in self._body_pieces():
            pass

    # -- forwarding -----------------------------------------------------------------------------

    def _forward(self) -> None:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=_UPSTREAM_TIMEOUT
        )
        try:
            try:
                upstream.connect()
            except OSError as exc:
                self._drain_body()
                self._send_bad_gateway(exc)
                return
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            connection_tokens = {
                token.strip().lower()
                for value in self.headers.get_all("Connection") or []
                for token in value.split(",")
            }
            for name, value in self.headers.items():
                lowered = name.lower()
                if lowered in _HOP_BY_HOP or lowered in connection_tokens:
                    continue
                upstream.putheader(name, value)
            upstream.putheader("Connection", "close")
            upstream.endheaders()
            for piece in self._body_pieces():
                upstream.send(piece)
            with upstream.getresponse() as response:
                self._relay(response)
        finally:
            upstream.close()

    def _send_bad_gateway(self, exc: BaseException) -> None:
        body = f"faultproxy: upstream failed: {exc!r}\n".encode()
        self.close_connection = True
        self.send_response_only(502)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _relay(self, response: http.client.HTTPResponse) -> None:
        has_body = self.command != "HEAD" and response.status not in (204, 304)
        content_length = response.getheader("Content-Length")
        chunked_to_client = has_body and content_length is None
        if chunked_to_client and self.request_version != "HTTP/1.1":
            # HTTP/1.0 clients cannot take chunked bodies: delimit the body by closing.
            chunked_to_client = False
            self.close_connection = True

        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or lowered == "transfer-encoding":
                continue
            self.send_header(name, value)
        if chunked_to_client:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

        if not has_body:
            return
        while True:
            data = response.read1(_CHUNK)
            if not data:
                break
            if chunked_to_client:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
        if chunked_to_client:
            self.wfile.write(b"0\r\n\r\n")
