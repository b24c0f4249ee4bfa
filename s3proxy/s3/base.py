"""The one tornado handler of the S3 protocol: authenticate, route, stream, render.

Everything tornado-specific lives here. The handler turns the HTTP request into a
plain S3Request (routing.py picks the operation, auth.py the Principal), starts the
operation as soon as the headers are in, and feeds it the body through a small
bounded channel: `data_received` awaits room in the channel, so a slow backend slows
the client (backpressure) and memory per request stays at a few chunks. The response
is written once the body has been read completely, so even an early failure (no such
bucket, bad signature) is answered after the client has sent its body, which is what
HTTP/1.1 clients such as botocore expect.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import parse_qsl

import tornado.httputil
import tornado.web
from tornado.iostream import StreamClosedError

from s3proxy.auth.chunked import RequestBody as VerifiedBody
from s3proxy.db.scope import RequestInfo
from s3proxy.large_bodies import read_in_large_chunks, restore_read_size
from s3proxy.s3.auth import authenticate
from s3proxy.s3.errors import s3_error
from s3proxy.s3.request import Body, S3Request, S3Response
from s3proxy.s3.routing import body_headers, find_route, parse_target
from s3proxy.s3.xml import error_document
from s3proxy.storage.context import Ctx, Storage
from s3proxy.storage.errors import StorageError

log = logging.getLogger("s3proxy.s3")

CHANNEL_DEPTH = 4  # request-body chunks buffered between tornado and the operation


class Channel:
    """A bounded async queue of body chunks with an end and a "consumer is gone" state."""

    def __init__(self, depth: int = CHANNEL_DEPTH) -> None:
        self._items: deque[bytes] = deque()
        self._depth = depth
        self._ended = False
        self._closed = False  # the consumer stopped: drop whatever arrives
        self._changed = asyncio.Event()

    async def put(self, chunk: bytes) -> None:
        while len(self._items) >= self._depth and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if not self._closed:
            self._items.append(chunk)
            self._changed.set()

    def end(self) -> None:
        self._ended = True
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._changed.set()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            if self._items:
                chunk = self._items.popleft()
                self._changed.set()
                yield chunk
                continue
            if self._ended or self._closed:
                return
            self._changed.clear()
            await self._changed.wait()


class AwsHeaders(tornado.httputil.HTTPHeaders):
    """Response headers with `x-amz-*` names in lower case, as AWS sends them: tornado
    would write `X-Amz-Meta-Foo`, and SDKs take the metadata key from the header name
    as written (boto3 would return `Foo` for what the client stored as `foo`)."""

    def get_all(self) -> Iterable[tuple[str, str]]:
        for name, value in super().get_all():
            yield (name.lower() if name.startswith("X-Amz-") else name), value


@tornado.web.stream_request_body
class S3Handler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")  # type: ignore[assignment]

    def initialize(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.channel = Channel()
        self.task: asyncio.Future[S3Response] | None = None
        self.early_error: StorageError | None = None
        self.resource = "/"

    @property
    def store(self) -> Storage:
        return self.application.settings["storage"]  # type: ignore[no-any-return]

    def clear(self) -> None:
        super().clear()
        self._headers = AwsHeaders(self._headers)

    def set_default_headers(self) -> None:
        # runs from RequestHandler.__init__, before initialize()
        if not hasattr(self, "request_id"):
            self.request_id = uuid.uuid4().hex[:16].upper()
        self.clear_header("Server")
        self.clear_header("Content-Type")
        self.set_header("x-amz-request-id", self.request_id)

    def check_xsrf_cookie(self) -> None:  # API server: no cookies
        return

    def compute_etag(self) -> str | None:  # ETags are the objects', never tornado's body hash
        return None

    # --- request ---------------------------------------------------------------------

    async def prepare(self) -> None:
        req = self.request
        try:
            bucket, key = parse_target(req.path, self.prefix, req.headers.get("Host"),
                                       (self.store.settings.host,))
        except UnicodeDecodeError:
            self.early_error = StorageError("InvalidURI", "Couldn't parse the specified URI.", status=400)
            self.channel.close()
            return
        self.resource = "/" + "/".join(p for p in (bucket, key) if p is not None)
        try:
            headers = {k.lower(): v for k, v in req.headers.get_all()}
            query_pairs = parse_qsl(req.query, keep_blank_values=True)
            query = dict(reversed(query_pairs))  # the first value wins
            route = find_route(req.method or "", bucket, key, query, headers)
            principal, auth = authenticate(self.store, req.method or "", req.path, req.query,
                                           req.headers.get_all())
            body = Body(VerifiedBody(self.channel, auth=auth, headers=body_headers(route, headers)))
            info = RequestInfo(method=req.method or "", path=req.uri or "", headers=headers)
            s3req = S3Request(method=req.method or "", bucket=bucket, key=key, query=query, headers=headers,
                              ctx=Ctx(self.store, principal, info), body=body, resource=self.resource)
        except StorageError as exc:
            self.early_error = exc
            self.channel.close()
            return
        read_in_large_chunks(req.connection, req.headers.get("Content-Length"), shared_params=True)
        self.task = asyncio.ensure_future(route.operation(s3req))
        self.task.add_done_callback(lambda _: self.channel.close())

    async def data_received(self, chunk: bytes) -> None:
        await self.channel.put(chunk)

    async def get(self, *_: Any) -> None:
        await self.respond()

    head = post = put = delete = patch = options = get

    # --- response --------------------------------------------------------------------

    async def respond(self) -> None:
        self.channel.end()
        if self.early_error is not None:
            self.send_error_document(self.early_error)
            return
        assert self.task is not None
        try:
            response = await self.task
        except StorageError as exc:
            self.send_error_document(exc)
            return
        await self.send_response(response)

    async def send_response(self, response: S3Response) -> None:
        self.set_status(response.status)
        for name, value in response.headers:
            self.add_header(name, value)
        if response.xml:
            self.set_header("Content-Type", "application/xml")
        if response.stream is None:
            if response.body and self.request.method != "HEAD":
                self.write(response.body)
            self.finish()
            return
        stream = response.stream
        try:
            if self.request.method == "HEAD":
                return
            # the headers go out with the first chunk: one send for a small object
            async for chunk in stream.chunks:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            await stream.aclose()
            if not self._finished:
                try:
                    self.finish()
                except StreamClosedError:
                    pass

    def send_error_document(self, error: StorageError) -> None:
        if error.status >= 500 and error.code not in ("SlowDown", "ServiceUnavailable"):
            log.warning("%s %s -> %s", self.request.method, self.request.path, error)
        mapped = s3_error(error)
        self.clear()
        self.set_status(mapped.status)
        if mapped.status == 304 or self.request.method == "HEAD":
            self.finish()
            return
        self.set_header("Content-Type", "application/xml")
        self.finish(error_document(mapped.code, mapped.message or "", self.resource, self.request_id))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, StorageError):
            self.send_error_document(exc)
            return
        if isinstance(exc, tornado.web.HTTPError) and exc.status_code < 500:
            self.send_error_document(StorageError("InvalidRequest", exc.log_message or self._reason,
                                                  status=exc.status_code))
            return
        self.send_error_document(StorageError("InternalError", "We encountered an internal error. "
                                              "Please try again."))

    def on_finish(self) -> None:
        restore_read_size(getattr(self.request.connection, "stream", None))

    def on_connection_close(self) -> None:
        # cancel first: a truncated body must fail the operation, not end it cleanly
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.channel.close()
