"""`/render/image/{authenticated,public,sign}/{bucket}/{key}` (reference §2.4): an object
transformed in process by the imaging package, where Supabase Storage calls imgproxy.

The source is found as the route allows (RLS as the caller, a public bucket, or a signed
URL's token), refused by the size its row records before a byte is read, then read
into memory (at most the configured source size) and handed to the engine, which
renders off the event loop a bounded number at a time. The answer carries the
rendered type and length, and the source's ETag, Last-Modified and Cache-Control (or
Expires, signed), as the reference's renderer sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado.httputil import format_timestamp
from tornado.iostream import StreamClosedError

from s3proxy import errors
from s3proxy.backends.base import ObjectStream
from s3proxy.imaging import Rendered, TransformError, TransformOptions
from s3proxy.imaging.errors import source_file_too_large
from s3proxy.rest.base import Auth, Policy
from s3proxy.rest.download import ObjectResponder, content_disposition
from s3proxy.rest.transforms import as_error, image_service, query_options, set_transformations_header
from s3proxy.storage import objects
from s3proxy.storage.conditions import Conditions
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import ReadMode

T = TypeVar("T")


async def read_source(stream: ObjectStream, limit: int) -> bytes:
    """The whole object, refused as soon as it turns out larger than `limit` (its row
    said it was not, but the bytes are what gets decoded)."""
    if stream.size > limit:
        raise source_file_too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.chunks:
        size += len(chunk)
        if size > limit:
            raise source_file_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


class _RenderHandler(ObjectResponder):
    mode: ReadMode = "user"
    _job: asyncio.Future[Any] | None = None  # what the request waits for, cancelled if its client leaves

    def transformation(self) -> TransformOptions:
        """What to render: the query string's parameters (the signed route: its token's)."""
        return query_options(self)

    async def get(self, bucket_id: str, key: str) -> None:
        options = self.transformation()
        expires = None
        if self.grant is not None:  # the token names the object
            bucket_id, key, expires = self.grant.bucket_id, self.grant.name, self.grant.expires_at
        service = image_service(self)

        def check(info: ObjectInfo) -> None:
            """Before a byte is read: the size limit, the validators, the conditions."""
            try:
                service.limits.check_source_size(info.size)
            except TransformError as exc:
                raise as_error(exc) from exc
            self._validators(info, options, expires)
            Conditions(if_none_match=self.request.headers.get("If-None-Match"),
                       if_modified_since=self.request.headers.get("If-Modified-Since")).check(info.etag,
                                                                                              info.last_modified)

        admission = service.admission
        if await self._unless_gone(admission.acquire()) is None:
            return
        try:
            try:
                source = await self._read(bucket_id, key, check, service.limits.max_source_bytes)
            except errors.NotModified:
                self.set_status(304)
                self.finish()
                return
            if self._client_gone():
                return
            job = service.renderer.render(source, options, self.request.headers.get("Accept"))
            del source  # the job holds it until it is done
            try:
                rendered = await self._unless_gone(job)
            except TransformError as exc:
                raise as_error(exc) from exc
        finally:
            admission.release()
        if rendered is not None:
            self._send(rendered)

    head = get

    async def _read(self, bucket_id: str, key: str, check: Callable[[ObjectInfo], None], limit: int) -> bytes:
        info, _, stream = await objects.read_object(self.ctx, bucket_id, key, mode=self.mode,
                                                    plan=check)
        try:
            return await read_source(stream, limit)
        except TransformError as exc:
            raise as_error(exc) from exc
        finally:
            await stream.aclose()

    def _validators(self, info: ObjectInfo, options: TransformOptions, expires: int | None) -> None:
        """The headers a 304 carries too: the source's ETag and dates, the caching rule,
        and `Vary: Accept` when the Accept header picks the format (WebP or not)."""
        self.set_header("ETag", info.etag)
        self.set_header("Last-Modified", format_timestamp(info.last_modified))
        if expires is not None:
            self.set_header("Expires", format_timestamp(expires))
        else:
            self.set_header("Cache-Control", self._cache_control(info))
        if options.format is None:
            self.set_header("Vary", "Accept")
        set_transformations_header(self, options)

    def _send(self, rendered: Rendered) -> None:
        self.set_header("Content-Type", rendered.content_type)
        self.set_header("Content-Length", str(len(rendered.body)))
        download = self.get_query_argument("download", None)
        if download is not None:
            self.set_header("Content-Disposition", content_disposition(download))
        try:
            if self.request.method != "HEAD":
                self.write(rendered.body)
            self.finish()
        except StreamClosedError:
            pass  # the client went away while the image was rendered

    def _client_gone(self) -> bool:
        """A client that left while its source was read gets no render: the engine's
        slots are for requests someone is waiting for."""
        stream = getattr(self.request.connection, "stream", None)
        return stream is not None and stream.closed()

    async def _unless_gone(self, waiting: Awaitable[T]) -> T | None:
        """Await `waiting` (admission, a render slot) as a job the connection's close
        cancels; None when it did. A render already running finishes (libvips cannot be
        stopped mid-pipeline) and its answer goes nowhere."""
        job = asyncio.ensure_future(waiting)
        self._job = job
        try:
            return await job
        except asyncio.CancelledError:
            if job.cancelled():
                return None
            raise
        finally:
            self._job = None

    def on_connection_close(self) -> None:
        if self._job is not None:
            self._job.cancel()
        super().on_connection_close()


class RenderAuthenticatedHandler(_RenderHandler):
    """/render/image/authenticated/{bucket}/{key}: a JWT; RLS SELECT decides (a hidden row
    is NoSuchKey)."""

    policies = {m: Policy(Auth.JWT, "storage.render.image_authenticated") for m in ("GET", "HEAD")}


class RenderPublicHandler(_RenderHandler):
    """/render/image/public/{bucket}/{key}: no credentials; the bucket must be public."""

    mode: ReadMode = "public"
    policies = {m: Policy(Auth.NONE, "storage.render.image_public") for m in ("GET", "HEAD")}


class RenderSignedHandler(_RenderHandler):
    """/render/image/sign/{bucket}/{key}?token=: the object and the transformation both
    come from the signed token (`url`, `transformations`, `format` claims); query
    parameters other than `download` cannot change them."""

    mode: ReadMode = "service"
    policies = {m: Policy(Auth.DOWNLOAD_TOKEN, "storage.render.image_sign") for m in ("GET", "HEAD")}

    def transformation(self) -> TransformOptions:
        assert self.grant is not None
        claims = self.grant.claims
        transformations, image_format = claims.get("transformations"), claims.get("format")
        try:
            return TransformOptions.from_claims(transformations if isinstance(transformations, str) else None,
                                                image_format if isinstance(image_format, str) else None,
                                                image_service(self).limits)
        except TransformError as exc:
            raise as_error(exc) from exc
