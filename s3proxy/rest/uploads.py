"""Streaming REST uploads (reference §2.3 "Upload"): raw bodies and multipart forms.

The body never sits in memory. `prepare()` starts the storage write as a task that
consumes an async iterator fed by `data_received` through a small queue; the queue's
`put` is what `data_received` returns, so tornado stops reading the socket while the
backend is slower than the client. A client that disconnects mid-body makes the
iterator raise, and the storage core deletes the half-written version: no row, no bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import tornado.web

from s3proxy.large_bodies import read_in_large_chunks, restore_read_size
from s3proxy.rest.base import RestHandler
from s3proxy.rest.multipart_form import FormReader, Part, form_boundary
from s3proxy.storage import objects
from s3proxy.storage.context import Ctx
from s3proxy.storage.errors import StorageError
from s3proxy.storage.objects import ObjectInfo, WriteOptions

QUEUE_CHUNKS = 4  # chunks buffered between the socket and the backend
FORM_OVERHEAD = 2 * 1024 * 1024  # form fields and boundaries on top of the file limit
MAX_FORM_FIELD = 1024 * 1024
MAX_FORM_FIELDS = 10

Upload = Callable[[AsyncIterator[bytes]], Awaitable[ObjectInfo]]

# asyncio keeps only weak references to tasks: an upload whose client vanished must still
# run to its cleanup, so running uploads are held here until they end
_RUNNING: set[asyncio.Task[ObjectInfo]] = set()

_ROBOTS_RULE = re.compile(
    r"^(all|noindex|nofollow|none|nosnippet|indexifembedded|notranslate|noimageindex"
    r"|max-snippet:\s*-?\d+|max-image-preview:\s*(none|standard|large)|max-video-preview:\s*-?\d+"
    r"|unavailable_after:\s*.+)$",
    re.I,
)
_USER_AGENT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*:\s*")


def validate_robots_tag(value: str) -> str:
    """X-Robots-Tag per the MDN grammar: comma-separated rules, optionally `bot: ` first."""
    rules = [r.strip() for r in value.strip().split(",")]
    if not _ROBOTS_RULE.match(rules[0]) and (agent := _USER_AGENT.match(rules[0])):
        rules[0] = rules[0][agent.end():]
    if not value.strip() or any(not _ROBOTS_RULE.match(r) for r in rules):
        raise StorageError("InvalidRequest", f"Invalid X-Robots-Tag header: {value}",
                           rest_error="invalid_x_robots_tag")
    return value.strip()


def decode_user_metadata(header: str | None) -> dict[str, Any] | None:
    """`x-metadata`: base64 of a JSON object; anything else is ignored, as the reference does."""
    if not header:
        return None
    try:
        data = json.loads(base64.b64decode(header, validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def header_options(headers: Mapping[str, str], *, upsert: bool) -> WriteOptions:
    """WriteOptions of a raw-body upload, from its headers."""
    opts = WriteOptions(
        content_type=headers.get("Content-Type") or "application/octet-stream",
        cache_control=headers.get("Cache-Control") or "no-cache",
        user_metadata=decode_user_metadata(headers.get("X-Metadata")),
        upsert=upsert,
    )
    robots = headers.get("X-Robots-Tag")
    if robots is not None:
        opts.extra_metadata["xRobotsTag"] = validate_robots_tag(robots)
    if "chunked" not in (headers.get("Transfer-Encoding") or "").lower():
        opts.size = int(headers.get("Content-Length") or 0)
    return opts


def form_options(fields: dict[str, str], part: Part, headers: Mapping[str, str], *, upsert: bool) -> WriteOptions:
    """WriteOptions of a form upload: fields sent before the file part win (reference §2.3)."""
    cache = fields.get("cacheControl")
    metadata_field = fields.get("metadata", fields.get("userMetadata"))
    opts = header_options({k: v for k, v in headers.items() if k.lower() == "x-robots-tag"}, upsert=upsert)
    opts.size = None
    opts.content_type = fields.get("contentType") or part.content_type or "application/octet-stream"
    opts.cache_control = f"max-age={cache}" if cache else "no-cache"
    if metadata_field is not None:
        opts.user_metadata = _json_object(metadata_field)
    else:
        opts.user_metadata = decode_user_metadata(headers.get("X-Metadata"))
    return opts


async def write_upload(ctx: Ctx, bucket_id: str, name: str, headers: Mapping[str, str],
                       body: AsyncIterator[bytes], *, upsert: bool, operation: str,
                       probe: bool = True) -> ObjectInfo:
    """Store a raw or multipart/form-data request body as bucket/name."""
    boundary = form_boundary(headers.get("Content-Type") or "")
    if boundary is None:
        opts = header_options(headers, upsert=upsert)
        opts.probe = probe
        return await objects.put_object(ctx, bucket_id, name, body, opts, operation=operation)
    reader = FormReader(body, boundary)
    fields: dict[str, str] = {}
    while (part := await reader.next_part()) is not None and not part.is_file:
        if len(fields) >= MAX_FORM_FIELDS:
            raise StorageError("InvalidRequest", "Too many form fields")
        fields[part.name] = (await reader.read_field(MAX_FORM_FIELD)).decode("utf-8", "replace")
    if part is None:
        raise StorageError("InvalidRequest", "No content provided")
    opts = form_options(fields, part, headers, upsert=upsert)
    opts.probe = probe
    return await objects.put_object(ctx, bucket_id, name, reader.content(), opts, operation=operation)


@tornado.web.stream_request_body
class StreamingUploadHandler(RestHandler):
    """Base of handlers whose POST/PUT bodies stream into storage.

    Subclasses call `start_upload(run)` in `prepare()` (for the methods that upload)
    and `await finish_upload()` in the method handler, once the body is complete."""

    _task: asyncio.Task[ObjectInfo] | None = None
    _queue: asyncio.Queue[bytes | BaseException | None]
    _body_complete = False

    def begin_upload(self, build: Callable[[], Upload]) -> None:
        """Start the upload that `build` describes. If `build` fails (bad token, bad
        header) the body is still read and discarded before the error is answered:
        closing a socket with unread input resets it, and the client would lose the answer."""
        try:
            run = build()
        except StorageError as exc:
            error = exc

            async def failed(body: AsyncIterator[bytes]) -> ObjectInfo:
                raise error

            run = failed
        self.start_upload(run)

    def start_upload(self, run: Upload) -> None:
        settings = self.store.settings
        self.request.connection.set_max_body_size(settings.upload_file_size_limit + FORM_OVERHEAD)  # type: ignore[union-attr]
        read_in_large_chunks(self.request.connection, self.request.headers.get("Content-Length"), shared_params=True)
        self._queue = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        self._task = asyncio.ensure_future(run(self._chunks()))
        _RUNNING.add(self._task)
        self._task.add_done_callback(_RUNNING.discard)
        self._task.add_done_callback(self._upload_done)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._task is None or self._task.done():
            return None  # no upload running (or it already failed): discard
        return self._queue.put(chunk)

    async def finish_upload(self) -> ObjectInfo | None:
        """The stored object; None if the response was already sent (failed early)."""
        self._body_complete = True
        assert self._task is not None
        if not self._task.done():
            await self._queue.put(None)
        try:
            return await self._task
        except StorageError:
            if self._finished:
                return None
            raise

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def _upload_done(self, task: asyncio.Task[ObjectInfo]) -> None:
        """Unblock a pending `data_received`; answer at once when the declared size is too
        big (the reference fails those early instead of reading the whole body)."""
        self._drain()
        if task.cancelled():
            return
        exc = task.exception()
        if (isinstance(exc, StorageError) and exc.code == "EntityTooLarge" and not self._body_complete
                and not self._finished and self.request.headers.get("Content-Length")):
            self.send_storage_error(exc)

    def on_connection_close(self) -> None:
        """The client went away: fail the body so the core drops the new version."""
        super().on_connection_close()
        if self._task is not None and not self._task.done() and not self._body_complete:
            self._drain()
            self._queue.put_nowait(StorageError("IncompleteBody", "The client closed the connection"))

    def on_finish(self) -> None:
        restore_read_size(getattr(self.request.connection, "stream", None))
        if self._task is not None and not self._task.done() and not self._body_complete:
            self._drain()
            self._queue.put_nowait(StorageError("IncompleteBody", "The request ended before its body"))
