"""The base of every request handler on both ports: one path for request bodies.

Every handler streams its request body (tornado's `stream_request_body`), so nothing
is buffered whole before the request's credentials are checked, and each route says
how much body it takes (`max_body`). The body goes either into an operation started
as soon as the headers are in (`consume`: uploads, every S3 operation) or into a small
buffer (`body`: JSON and XML control requests). Written once, here:

- the declared length: a Content-Length must be a number no larger than the route's
  limit, or the request is refused before a byte of its body is read;
- backpressure: `data_received` returns the channel's put, so tornado stops reading
  the socket while the operation is behind;
- the client leaving: the operation's body fails, so the storage core deletes what it
  had written;
- the early answer (`refuse`): an error known before the body is complete (too large,
  bad credentials, no such bucket) is answered at once with `Connection: close`, and
  the rest of the body is read and dropped (up to `drain_limit` bytes or DRAIN_SECONDS)
  before the connection closes. Closing with unread input would make the kernel reset
  the connection, and the client could lose the answer. A small remainder is simply
  read before answering, which keeps the connection alive;
- `Expect: 100-continue` in any letter case (tornado only matches the lower-case one).

Subclasses implement `begin()` (route, authenticate, maybe `consume`), `render_error()`
(the protocol's error format) and their HTTP methods, which run once the body is in.
They note what the request was (`operation`, `bucket`, `key`) and how it failed
(`error_code`), which the access log (web/access.py) and the metrics write once the
request has finished. tornado's own log lines about a request quote it through
`_request_summary`, here with the query's credentials redacted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import tornado.httputil
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError
from tornado.log import app_log, gen_log

from s3proxy import errors, metrics
from s3proxy.cors import CorsAnswer, CorsRule, actual, preflight, requested_headers, server_rule
from s3proxy.large_bodies import read_in_large_chunks, restore_read_size
from s3proxy.redact import redact_uri
from s3proxy.web.access import describe, log_access
from s3proxy.web.channel import BodyChannel
from s3proxy.web.inputs import check_request_text

log = logging.getLogger("s3proxy.web")

SMALL_BODY = 1024 * 1024  # JSON and XML control requests (Supabase's JSON body limit)
KEEP_ALIVE_REMAINDER = 64 * 1024  # a refused body this small is read before answering
DRAIN_BYTES = 1024 * 1024 * 1024  # of a refused body, read and dropped at most this much
DRAIN_SECONDS = 30.0  # ... for at most this long
SLACK = 1024 * 1024  # tornado's own limit sits this far above ours, so ours answers first

# asyncio keeps only weak references to tasks: an operation whose client vanished must
# still run to its cleanup, so running operations are held here until they end
_RUNNING: set[asyncio.Task[Any]] = set()


def declared_length(headers: tornado.httputil.HTTPHeaders) -> int | None:
    """The body's Content-Length; None for a chunked (or absent, for no body) one."""
    raw = headers.get("Content-Length")
    if raw is None:
        return None if "Transfer-Encoding" in headers else 0
    if not raw.strip().isdigit() or "Transfer-Encoding" in headers:
        raise errors.InvalidRequest("Invalid Content-Length")
    return int(raw)


@tornado.web.stream_request_body
class StreamingHandler(tornado.web.RequestHandler):
    max_body: int = SMALL_BODY  # a route's limit; set it in begin() before consume()
    drain_limit: ClassVar[int] = DRAIN_BYTES  # 0: refuse without reading anything more

    _declared: int | None = 0
    _received = 0
    _buffer: bytearray | None = None
    _channel: BodyChannel | None = None
    _operation: asyncio.Task[Any] | None = None
    _refused = False
    _unframed = False  # the body's length cannot be known: it cannot be read past
    _continue = False  # an `Expect: 100-continue` still to be answered
    _cors: CorsAnswer | None = None  # the CORS headers every response to this request carries

    # what the access log and the metrics say about the request
    protocol: ClassVar[str] = ""  # "rest" | "s3"
    request_id: str
    operation = ""  # the operation's name, once known
    bucket: str | None = None
    key: str | None = None
    error_code: str | None = None  # the protocol's code of the error answered
    error_status: int | None = None  # ... and its own status
    bytes_out = 0
    _started = False  # counted in flight
    _recorded = False  # logged and counted as finished

    # --- what subclasses provide ---------------------------------------------------------

    async def begin(self) -> None:
        """Everything that can be decided from the headers: route, credentials, and for
        streaming routes `consume()`. Raising an errors.Error refuses the request."""

    def render_error(self, error: errors.Error) -> bytes:
        """Set the status and headers of `error`'s response (and `error_code`); return its body."""
        raise NotImplementedError

    def new_request_id(self) -> str:
        raise NotImplementedError

    def request_id_header(self) -> str:
        """The response header that carries `request_id`."""
        raise NotImplementedError

    def set_default_headers(self) -> None:
        # runs from RequestHandler.__init__ (before initialize) and again on clear()
        if not hasattr(self, "request_id"):
            self.request_id = self.new_request_id()
        self.clear_header("Server")
        self.set_header(self.request_id_header(), self.request_id)
        for name, value in (self._cors.headers if self._cors is not None else {}).items():
            self.set_header(name, value)

    @property
    def bytes_in(self) -> int:
        return self._received

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        self.bytes_out += sum(len(chunk) for chunk in self._write_buffer)  # type: ignore[attr-defined]
        return super().flush(include_footers)

    # --- the request's start -------------------------------------------------------------

    async def cors_rules(self) -> list[CorsRule]:
        """The rules that decide this request's cross-origin access (an S3 bucket may have
        its own); the server's CORS_ALLOWED_ORIGINS by default."""
        rule = server_rule(self.application.settings["storage"].settings.cors_allowed_origins)
        return [rule] if rule is not None else []

    async def prepare(self) -> None:
        self._started = True
        metrics.request_started(self.protocol)
        expect = self.request.headers.get("Expect", "")
        self._continue = expect.lower() == "100-continue"
        self._buffer = bytearray()
        try:
            self._declared = declared_length(self.request.headers)
        except errors.Error as exc:
            self._unframed = True
            self.refuse(exc)
            return
        try:
            check_request_text(self.request.path, self.request.query_arguments.items(),
                               self.request.headers.get_all())
            if "Origin" in self.request.headers and await self._cross_origin():
                return
            await self.begin()
            if self._channel is None and self._declared is not None and self._declared > self.max_body:
                raise errors.BodyTooLarge()
        except errors.Error as exc:
            self.refuse(exc)
            return
        self.request.connection.set_max_body_size(self.max_body + SLACK)  # type: ignore[union-attr]
        if self._continue and expect != "100-continue":  # tornado answers the lower-case form itself
            self.request.connection.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
        self._continue = False

    async def _cross_origin(self) -> bool:
        """Label a browser's cross-origin request with CORS headers; answer its preflight
        (True: the request has been answered)."""
        headers = self.request.headers
        origin, asked = headers["Origin"], headers.get("Access-Control-Request-Method")
        rules = await self.cors_rules()
        if self.request.method == "OPTIONS" and asked is not None:
            answer = preflight(rules, origin, asked, requested_headers(headers.get("Access-Control-Request-Headers")))
            if answer is None:
                raise errors.CORSForbidden()
            self._cors = answer
            self.set_default_headers()
            self._after_body(self.finish)
            return True
        self._cors = actual(rules, origin, self.request.method or "GET")
        self.set_default_headers()
        return False

    def limit_body(self, max_body: int, too_large: type[errors.Error] = errors.EntityTooLarge) -> None:
        """This route takes at most `max_body` bytes: refuse a longer declared body now,
        before the caller is even authenticated."""
        self.max_body = max_body
        if self._declared is not None and self._declared > max_body:
            raise too_large()

    def consume(self, operation: Callable[[BodyChannel], Awaitable[Any]]) -> None:
        """Start `operation` now; it reads the body from the channel it is given as the
        body arrives. The HTTP method gets its result from `outcome()`."""
        if self._declared is not None and self._declared > self.max_body:
            raise errors.EntityTooLarge()
        self._channel = BodyChannel()
        self._buffer = None
        read_in_large_chunks(self.request.connection, self.request.headers.get("Content-Length"),
                             shared_params=True)
        task = asyncio.ensure_future(operation(self._channel))
        self._operation = task
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
        task.add_done_callback(self._operation_done)

    # --- the body ------------------------------------------------------------------------

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self._received += len(chunk)
        if self._refused:
            if self._received > self.drain_limit:
                self._close_connection()
            return None
        if self._channel is not None:
            return self._channel.put(chunk)
        assert self._buffer is not None
        if len(self._buffer) + len(chunk) > self.max_body:
            self.refuse(errors.BodyTooLarge())
            return None
        self._buffer += chunk
        return None

    @property
    def body(self) -> bytes:
        """The buffered body of a control request (in the HTTP method, once it is in)."""
        return bytes(self._buffer or b"")

    async def outcome(self) -> Any:
        """The result of the operation `consume()` started, once the body is complete."""
        assert self._channel is not None and self._operation is not None
        self._channel.end()
        return await self._operation

    def _operation_done(self, task: asyncio.Task[Any]) -> None:
        """An operation that ended before its body did answers now (its error) or once
        the body is in (its result, through `outcome`)."""
        assert self._channel is not None
        self._channel.close()
        if task.cancelled() or self._finished or self._refused or self._body_received():
            return
        error = task.exception()
        if error is None:
            return
        if not isinstance(error, errors.Error):
            log.error("%s %s failed", self.request.method, self.request.path, exc_info=error)
            error = errors.InternalError()
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None and not stream.closed():
            self.refuse(error)

    def _body_received(self) -> bool:
        """Has tornado read the whole body (and is about to call, or has called, the method)?"""
        future = getattr(self.request, "_body_future", None)
        return future is not None and future.done() and not future.cancelled() and future.exception() is None

    # --- the early answer ----------------------------------------------------------------

    def refuse(self, error: errors.Error) -> None:
        """Answer `error` before the body is complete (see the module docstring)."""
        self._refused = True
        if self._channel is not None:
            self._channel.fail(errors.IncompleteBody("The request was refused"))
        if self._continue or self._unframed:
            self.send_error_response(error)  # the client waits for us, or no body can be read: close
            return
        remaining = None if self._declared is None else self._declared - self._received
        connection = self.request.connection
        connection.set_max_body_size(2**62)  # type: ignore[union-attr]  # tornado must not cut the drain
        if remaining == 0 or (remaining is not None and remaining <= KEEP_ALIVE_REMAINDER and self.drain_limit):
            self._after_body(lambda: self.send_error_response(error))
            return
        connection._disconnect_on_finish = True  # type: ignore[union-attr]  # "Connection: close"
        self.clear()
        body = b"" if self.request.method == "HEAD" else self.render_error(error)
        self.set_header("Content-Length", str(len(body)))
        self.write(body)
        self.flush()
        if self.drain_limit == 0:
            self.finish()
            return
        self._after_body(self.finish)
        asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._stop_draining)

    def _after_body(self, then: Callable[[], Any]) -> None:
        """Run `then` once the body is in, instead of the HTTP method.

        tornado's `_execute` awaits `request._body_future` and calls the method when it
        resolves. Failing that future (as a closed connection does) ends `_execute`
        without calling it, and a fresh future in its place is what tornado resolves
        when the body ends. Called from `prepare()`, the swap waits one loop turn, until
        `_execute` awaits the future it replaces."""

        def swap() -> None:
            waiting = self.request._body_future  # type: ignore[attr-defined]
            fresh: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fresh.add_done_callback(lambda f: then() if not f.exception() and not self._finished else None)
            self.request._body_future = fresh  # type: ignore[attr-defined]
            if not waiting.done():
                waiting.set_exception(StreamClosedError())
                waiting.exception()

        asyncio.get_running_loop().call_soon(swap)

    def _stop_draining(self) -> None:
        if not self._finished:
            self._close_connection()

    def _close_connection(self) -> None:
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()

    # --- errors --------------------------------------------------------------------------

    def send_error_response(self, error: errors.Error) -> None:
        if self._finished:
            return
        self.clear()
        body = self.render_error(error)
        if body and self.request.method != "HEAD":
            self.write(body)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, errors.Error):
            error = exc
        elif isinstance(exc, tornado.web.HTTPError) and exc.status_code == 405:
            error = errors.MethodNotAllowed()
        elif isinstance(exc, tornado.web.HTTPError | tornado.httputil.HTTPInputError) and status_code < 500:
            error = errors.InvalidRequest(getattr(exc, "log_message", None) or self._reason)
        else:
            error = errors.InternalError()
        self.send_error_response(error)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Errors the client should see are not tracebacks (the access log has them);
        others are logged as tornado does, but never with `repr(self.request)`, whose
        URI would carry the query's credentials."""
        if isinstance(value, errors.Error):
            return
        if isinstance(value, tornado.web.HTTPError):
            if value.log_message:
                args = [value.status_code, self._request_summary(), *value.args]
                gen_log.warning("%d %s: " + value.log_message, *args)
            return
        app_log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))

    def _request_summary(self) -> str:
        return f"{self.request.method} {redact_uri(self.request.uri or '')} ({self.request.remote_ip})"

    # --- the request's end ---------------------------------------------------------------

    def on_connection_close(self) -> None:
        """The client went away: the operation's body fails (and the storage core deletes
        what it wrote), and tornado stops waiting for the body. The request is logged now,
        as it may never finish."""
        if self._channel is not None and not self._body_received():
            self._channel.fail(errors.IncompleteBody("The client closed the connection"))
        self.record_access(aborted=True)
        super().on_connection_close()

    def record_access(self, *, aborted: bool = False) -> None:
        """The request's access line and metrics, once: from the Application's
        `log_request` when it finishes, or when its client leaves first (status 499 if
        no answer had started)."""
        if self._recorded:
            return
        self._recorded = True
        entry = describe(self, aborted=aborted)
        log_access(entry)
        metrics.request_finished(entry, self._started)

    def on_finish(self) -> None:
        restore_read_size(getattr(self.request.connection, "stream", None))
        if self._channel is not None and not self._body_received():
            self._channel.fail(errors.IncompleteBody("The request ended before its body"))

    def check_xsrf_cookie(self) -> None:  # API server: no cookies
        return

    def compute_etag(self) -> str | None:  # ETags are the objects', never a body hash
        return None
