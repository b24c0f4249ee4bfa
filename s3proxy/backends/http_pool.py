"""HTTP/1.1 keep-alive for tornado's curl-free client.

Why: `SimpleAsyncHTTPClient` sends `Connection: close` and closes the stream after every
response, so each upstream request pays a TCP (and TLS) handshake. For small objects
that handshake is most of the request's cost. `PooledHTTPClient` is the same client
with one change: a cleanly finished exchange hands its stream to a per-host pool, and
the next request to that host takes it from there instead of connecting.

What makes a stream reusable (anything else is closed, as tornado does):
- the response was read to its end, and its length was framed (Content-Length,
  chunked, or a status/method without a body): a body that runs to EOF has no end;
- HTTP/1.1 and no `Connection: close` from either side, and a final (non-1xx) status;
- the request was fully written and flushed, and nothing is left unread in the buffer.
  An error (a timeout, a reset, a streaming callback raising to abandon a download)
  never reaches `finish()`, so its stream is never offered back.

An idle stream is only handed out after a zero-timeout poll finds it unreadable
(readable means EOF or stray bytes) and when it has been idle less than IDLE_TIMEOUT,
below the ~20 s after which AWS drops idle connections. A request whose reused stream
fails before any response byte arrived (the upstream closed it as we wrote) is sent
again, once, on a new connection. Requests with a `body_producer` cannot be replayed,
so they always get a new connection (their stream may still be pooled afterwards).
One client should use one TLS configuration per host: the pool tells streams apart by
host, port, address family, TLS or not and source address.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

from tornado.http1connection import HTTP1Connection, is_transfer_encoding_chunked
from tornado.httpclient import HTTPRequest
from tornado.httputil import HTTPHeaders, RequestStartLine, ResponseStartLine
from tornado.iostream import IOStream, StreamClosedError
from tornado.simple_httpclient import HTTPStreamClosedError, SimpleAsyncHTTPClient, _HTTPConnection
from tornado.tcpclient import TCPClient

from s3proxy.large_bodies import read_in_large_chunks, restore_read_size

IDLE_TIMEOUT = 15.0  # seconds a pooled stream may sit idle before it is dropped

_Key = tuple[str, int, int, bool, str | None]


def _idle_and_open(stream: IOStream) -> bool:
    """True when nothing (no EOF, no stray bytes, no error) is waiting on an idle stream."""
    sock = stream.socket
    if stream.closed() or sock is None or stream._read_buffer_size:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        if hasattr(select, "poll"):  # select.select cannot watch descriptors >= 1024
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        return not select.select([sock], [], [sock], 0)[0]
    except (OSError, ValueError):
        return False


class ConnectionPool:
    """Idle keep-alive streams per destination, most recently returned first out (so
    surplus streams age out), at most `max_idle` per destination."""

    def __init__(self, connector: TCPClient, *, max_idle: int, idle_timeout: float) -> None:
        self.connector = connector
        self.max_idle, self.idle_timeout = max_idle, idle_timeout
        self.opened = 0  # new connections made: for tests and diagnostics
        self.ssl_contexts: dict[tuple[Any, ...], Any] = {}  # see _PooledConnection._get_ssl_options
        self._idle: dict[_Key, list[tuple[IOStream, float]]] = {}
        self._closed = False

    def checkout(self, key: _Key) -> IOStream | None:
        """A healthy idle stream to `key`, or None; dead or expired ones are closed."""
        idle = self._idle.get(key, [])
        now = time.monotonic()
        while idle:
            stream, since = idle.pop()
            if now - since < self.idle_timeout and _idle_and_open(stream):
                return stream
            stream.close()
        return None

    def checkin(self, key: _Key, stream: IOStream) -> None:
        if self._closed or stream.closed():
            stream.close()
            return
        idle = self._idle.setdefault(key, [])
        now = time.monotonic()
        while idle and (len(idle) >= self.max_idle or now - idle[0][1] >= self.idle_timeout):
            idle.pop(0)[0].close()  # the oldest first
        idle.append((stream, now))

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for stream, _ in idle:
                stream.close()
        self._idle.clear()


class _Dialer:
    """What one request's `_HTTPConnection.run()` sees as its TCPClient: a pooled stream
    when `reuse` allows and one is available, else a new connection."""

    def __init__(self, pool: ConnectionPool, reuse: bool) -> None:
        self.pool, self.reuse = pool, reuse
        self.key: _Key | None = None
        self.reused = False

    async def connect(self, host: str, port: int, af: socket.AddressFamily = socket.AF_UNSPEC,
                      ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
                      max_buffer_size: int | None = None, source_ip: str | None = None,
                      source_port: int | None = None, timeout: float | None = None) -> IOStream:
        self.key = (host, port, int(af), ssl_options is not None, source_ip)
        if self.reuse and (stream := self.pool.checkout(self.key)) is not None:
            self.reused = True
            return stream
        self.pool.opened += 1
        return await self.pool.connector.connect(
            host, port, af=af, ssl_options=ssl_options, max_buffer_size=max_buffer_size,
            source_ip=source_ip, source_port=source_port, timeout=timeout)


class _PooledConnection(_HTTPConnection):
    """One request/response exchange that asks for keep-alive and, when the exchange
    ends cleanly, returns its stream to the pool instead of closing it."""

    def __init__(self, client: SimpleAsyncHTTPClient | None, request: Any, release_callback: Any,
                 final_callback: Any, max_buffer_size: int, tcp_client: TCPClient, max_header_size: int,
                 max_body_size: int, fresh: bool = False) -> None:
        assert isinstance(client, PooledHTTPClient)
        self.pool = client.pool
        self.dialer = _Dialer(client.pool, reuse=not fresh and request.body_producer is None)
        self.reusable = False  # set from the final response's start line and headers
        if "Connection" not in request.headers:  # else tornado sends "Connection: close"
            request.headers["Connection"] = "keep-alive"
        super().__init__(client, request, release_callback, final_callback, max_buffer_size,
                         cast(TCPClient, self.dialer), max_header_size, max_body_size)

    def _get_ssl_options(self, scheme: str) -> None | dict[str, Any] | ssl.SSLContext:
        """Tornado builds (and loads the CA file into) a new SSLContext per request when
        ca_certs is set; build one per configuration instead."""
        request = self.request
        if scheme != "https" or request.ssl_options is not None:
            return super()._get_ssl_options(scheme)
        key = (request.ca_certs, request.validate_cert, request.client_cert, request.client_key)
        if key not in self.pool.ssl_contexts:
            self.pool.ssl_contexts[key] = super()._get_ssl_options(scheme)
        return cast("dict[str, Any] | ssl.SSLContext", self.pool.ssl_contexts[key])

    def _create_connection(self, stream: IOStream) -> HTTP1Connection:
        connection = super()._create_connection(stream)
        connection.params.no_keep_alive = connection.no_keep_alive = False
        return connection

    async def headers_received(self, first_line: ResponseStartLine | RequestStartLine,
                               headers: HTTPHeaders) -> None:
        if isinstance(first_line, ResponseStartLine):
            sent = self.request.headers.get("Connection", "").lower()
            framed = (first_line.code in (204, 304) or self.request.method == "HEAD"
                      or "Content-Length" in headers or is_transfer_encoding_chunked(headers))
            self.reusable = (framed and first_line.version == "HTTP/1.1" and first_line.code >= 200
                             and "close" not in sent and "close" not in headers.get("Connection", "").lower())
            if first_line.code < 300:  # an error document is read as tornado does
                read_in_large_chunks(self.connection, headers.get("Content-Length"), shared_params=False)
        await super().headers_received(first_line, headers)
        original = getattr(self.request, "request", self.request)  # tornado wraps it in a _RequestProxy
        callback = getattr(original, "headers_callback", None)
        if callback is not None and isinstance(first_line, ResponseStartLine):
            callback(first_line.code, headers)

    def _on_end_request(self) -> None:
        # _finish_future is done once the request was flushed and tornado's own write
        # callbacks have run, so none of them touches the stream after detach()
        connection = self.connection
        if (self.reusable and self.dialer.key is not None and connection._finish_future.done()
                and not self.stream.closed() and not self.stream._read_buffer_size):
            stream = connection.detach()
            restore_read_size(stream)
            self.pool.checkin(self.dialer.key, stream)
        else:
            self.stream.close()

    def _handle_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                          tb: TracebackType | None) -> bool:
        stale = isinstance(value, StreamClosedError | HTTPStreamClosedError | ConnectionError)
        if self.final_callback is not None and self.dialer.reused and self.code is None and stale:
            # a reused stream died before any response byte: almost surely the upstream
            # closed it while idle, so the request was never seen; send it again, once
            self._remove_timeout()
            if hasattr(self, "stream"):
                self.stream.close()
            release, final = self.release_callback, self.final_callback
            self.release_callback = self.final_callback = None  # type: ignore[assignment]
            type(self)(self.client, self.request, release, final, self.max_buffer_size, self.tcp_client,
                       self.max_header_size, self.max_body_size, fresh=True)
            return True
        return super()._handle_exception(typ, value, tb)


class PooledHTTPRequest(HTTPRequest):
    """An HTTPRequest with `headers_callback(code, headers)`, called with each response's
    status and headers as tornado parsed them; `header_callback` would hand over raw
    lines for the receiver to parse a second time (a tenth of a small GET's CPU)."""

    def __init__(self, url: str, *, headers_callback: Callable[[int, HTTPHeaders], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.headers_callback = headers_callback


class PooledHTTPClient(SimpleAsyncHTTPClient):
    """SimpleAsyncHTTPClient with keep-alive. Create with force_instance=True; extra
    arguments: `max_idle` idle streams per destination (default max_clients) and
    `idle_timeout` seconds."""

    pool: ConnectionPool

    def initialize(self, max_clients: int = 10, *, max_idle: int | None = None,  # type: ignore[override]
                   idle_timeout: float = IDLE_TIMEOUT, **kwargs: Any) -> None:
        super().initialize(max_clients=max_clients, **kwargs)
        self.pool = ConnectionPool(self.tcp_client, max_idle=max_idle or max_clients, idle_timeout=idle_timeout)

    def _connection_class(self) -> type:
        return _PooledConnection

    def close(self) -> None:
        self.pool.close()
        super().close()
