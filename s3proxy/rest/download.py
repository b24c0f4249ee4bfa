"""Writing an object (or its headers, or its info) to a REST response (reference §2.3
"Download" and "Info and HEAD").

Bytes stream from the backend to the socket chunk by chunk, waiting on each flush,
so a slow client slows the backend read instead of filling memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from tornado.httputil import format_timestamp
from tornado.iostream import StreamClosedError

from s3proxy import errors
from s3proxy.backends.base import ObjectStream
from s3proxy.imaging import TransformOptions
from s3proxy.rest.base import RestHandler
from s3proxy.rest.object_json import info_json
from s3proxy.rest.transforms import query_options, set_transformations_header
from s3proxy.storage import objects
from s3proxy.storage.conditions import Conditions, parse_range
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import ReadMode


def content_disposition(download: str) -> str:
    """`?download` → attachment; `?download=name` names the file (JS encodeURIComponent)."""
    if not download:
        return "attachment;"
    encoded = quote(download, safe="-_.!~*'()")
    return f"attachment; filename={encoded}; filename*=UTF-8''{encoded}"


def served_content_type(mimetype: str) -> str:
    """HTML is never served as HTML from a storage origin (reference: as text/plain)."""
    return "text/plain" if "text/html" in mimetype.lower() else mimetype


class ObjectResponder(RestHandler):
    """Shared by every handler that answers with an object's bytes, headers or info."""

    _error_headers: dict[str, str] | None = None

    def render_error(self, error: errors.Error) -> bytes:
        """The envelope plus the headers some errors carry (Content-Range on 416,
        Cache-Control: no-store when the bytes are gone)."""
        body = super().render_error(error)
        extra = dict(self._error_headers or {})
        if isinstance(error, errors.MissingBytes):
            extra["Cache-Control"] = "no-store"
        for name, value in extra.items():
            self.set_header(name, value)
        return body

    def _object_headers(self, info: ObjectInfo, *, expires: int | None) -> None:
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Content-Type", served_content_type(info.content_type))
        self.set_header("ETag", info.etag)
        self.set_header("Last-Modified", format_timestamp(info.last_modified))
        self.set_header("X-Robots-Tag", info.meta.describing.robots or "none")
        if expires is not None:
            self.set_header("Expires", format_timestamp(datetime.fromtimestamp(expires, UTC)))
        else:
            self.set_header("Cache-Control", self._cache_control(info))
        download = self.get_query_argument("download", None)
        if download is not None:
            self.set_header("Content-Disposition", content_disposition(download))

    def _cache_control(self, info: ObjectInfo) -> str:
        value = info.cache_control
        wanted = self.request.headers.get("If-None-Match")
        if wanted is not None and not Conditions(if_match=wanted).matches_etag(info.etag):
            value += ", must-revalidate" if self.request.method == "HEAD" else ", stale-while-revalidate=30"
        return value

    def _plan(self, info: ObjectInfo, expires: int | None) -> tuple[int, int] | None:
        """The headers of this row, its conditions (NotModified), and the byte range."""
        self.clear()
        self._object_headers(info, expires=expires)
        Conditions(if_none_match=self.request.headers.get("If-None-Match"),
                   if_modified_since=self.request.headers.get("If-Modified-Since")).check(info.etag,
                                                                                          info.last_modified)
        if self.request.method == "HEAD":
            return None
        self._error_headers = {"Content-Range": f"bytes */{info.size}"}
        byte_range = parse_range(self.request.headers.get("Range"), info.size)
        self._error_headers = None
        return byte_range

    async def send_object(self, bucket_id: str, key: str, mode: ReadMode, *, expires: int | None = None) -> None:
        """GET: the bytes (whole or one range); HEAD: the headers from the row alone (plus
        `X-Transformations` when the query asks for an image transformation, unsigned only)."""
        try:
            if self.request.method == "HEAD":
                options = query_options(self) if self.grant is None else TransformOptions()
                info = await objects.find_object(self.ctx, bucket_id, key, mode=mode)
                self._plan(info, expires)
                set_transformations_header(self, options)
                self.set_header("Content-Length", str(info.size))
                self.finish()
                return
            info, byte_range, stream = await objects.read_object(self.ctx, bucket_id, key, mode=mode,
                                                                 plan=lambda i: self._plan(i, expires))
        except errors.NotModified:
            self.set_status(304)
            self.finish()
            return
        await self._stream(stream, byte_range, info.size)

    async def _stream(self, stream: ObjectStream, byte_range: tuple[int, int] | None, size: int) -> None:
        try:
            if byte_range is not None:
                self.set_status(206)
                self.set_header("Content-Range", f"bytes {byte_range[0]}-{byte_range[1]}/{size}")
            length = byte_range[1] - byte_range[0] + 1 if byte_range is not None else size
            self.set_header("Content-Length", str(length))
            async for chunk in stream.chunks:
                self.write(chunk)
                await self.flush()
            self.finish()
        except StreamClosedError:
            pass  # the client went away; the finally clause releases the backend stream
        finally:
            await stream.aclose()

    def send_info(self, info: ObjectInfo, options: TransformOptions) -> None:
        """GET/HEAD /object/info/…: JSON about the object, with its validators as headers
        (and the `options` the query asked for as `X-Transformations`, as the reference)."""
        set_transformations_header(self, options)
        self.set_header("ETag", info.etag)
        self.set_header("Last-Modified", format_timestamp(info.last_modified))
        self.set_header("Cache-Control", info.cache_control)
        if self.request.method == "HEAD":
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish()
            return
        self.send_json(info_json(info))
