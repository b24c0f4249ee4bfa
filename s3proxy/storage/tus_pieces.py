"""How a TUS upload's bytes are kept between requests: chunks of any size in, backend
multipart parts of at least 5 MiB out, with memory bounded per request.

Clients pick their chunk size (tus-js-client 6 MiB, Uppy 5-50 MiB, tuspy the whole file
by default, anything with a deferred length), but an upstream S3 part must be at least
5 MiB unless it is the last. So an upload is, in byte order:

- parts of the backend's multipart upload (created with the first part), each cut at
  `floor` bytes or more; a request holding enough bytes streams them straight into
  parts of known size (`take`), so a 6 MiB chunk becomes one 6 MiB part, a 1 GiB one
  64 parts of 16 MiB, each committed as it lands (a request cut short keeps its
  finished parts: the offset is where the last committed piece ends);
- then "segments": small objects under `__s3proxy_tus/` holding what was too little
  for a part. A request that adds less than a part writes its bytes as one new segment
  (nothing is rewritten, so tiny chunks cost linear time); the request that reaches
  `floor` streams the segments back, in order, in front of its own bytes as one part,
  and deletes them.

Only a request body without a Content-Length is buffered, one part at most, since a
part's size must be known before it is sent. The last bytes are assembled by
`assemble`: one plain put when the object is small enough never to have needed a part,
else a last part and the backend's CompleteMultipartUpload.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from s3proxy import errors
from s3proxy.backends.base import PartInfo
from s3proxy.storage import tus_state
from s3proxy.storage.context import Ctx
from s3proxy.storage.tus_state import Lease, Piece, TusUpload

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PARTS = 10_000
STALL_SECONDS = 60.0  # a client that sends nothing this long mid-body has gone
PREFIX = "__s3proxy_tus"  # segment keys: never the start of a data key, which is the tenant's


def segment_key(ctx: Ctx, upload_id: str, number: int) -> str:
    return f"{PREFIX}/{ctx.settings.tenant_id}/{upload_id}/{number}"


class Cutter:
    """A request body handed out in runs of exact sizes, whatever the sizes of the chunks
    it arrives in. `limit` caps the bytes it may hold; a client that sends nothing for
    STALL_SECONDS fails the body (its request would otherwise keep the upload's lease)."""

    def __init__(self, body: AsyncIterable[bytes], limit: int | None, too_large: str) -> None:
        self._it = aiter(body)
        self._rest = b""
        self._ended = False
        self.received = 0
        self.limit, self.too_large = limit, too_large

    async def _next(self) -> bytes | None:
        if self._rest:
            chunk, self._rest = self._rest, b""
            return chunk
        if self._ended:
            return None
        try:
            async with asyncio.timeout(STALL_SECONDS):
                chunk = await anext(self._it)
        except StopAsyncIteration:
            self._ended = True
            return None
        except TimeoutError:
            raise errors.IncompleteBody("The client sent nothing for a minute") from None
        self.received += len(chunk)
        if self.limit is not None and self.received > self.limit:
            raise errors.EntityTooLarge(self.too_large)
        return chunk

    async def take(self, size: int) -> AsyncIterator[bytes]:
        """Exactly `size` bytes, as they arrive; IncompleteBody if the body ends first."""
        while size > 0:
            chunk = await self._next()
            if chunk is None:
                raise errors.IncompleteBody()
            if len(chunk) > size:
                chunk, self._rest = chunk[:size], chunk[size:]
            size -= len(chunk)
            yield chunk

    async def read_upto(self, size: int) -> bytes:
        """Up to `size` bytes in memory: fewer only when the body ends."""
        chunks: list[bytes] = []
        have = 0
        while have < size:
            chunk = await self._next()
            if chunk is None:
                break
            if len(chunk) > size - have:
                chunk, self._rest = chunk[: size - have], chunk[size - have:]
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    async def finish(self) -> None:
        """The body must end here."""
        if await self._next() is not None:
            raise errors.IncompleteBody("The body is longer than its Content-Length")


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


class PieceWriter:
    """One request's bytes into the upload's pieces, under the request's lease."""

    def __init__(self, ctx: Ctx, lease: Lease, upload: TusUpload, segments: list[Piece], limit: int) -> None:
        self.ctx, self.lease, self.upload = ctx, lease, upload
        self.backend = ctx.store.backend
        self.segments = segments
        self.offset = upload.offset
        self.length = upload.length
        self.limit = limit
        self.backend_upload = upload.backend_upload
        self.parts_used = upload.next_part
        self.key = ctx.store.data_key(upload.bucket_id, upload.name, upload.id)
        self.md5_parts = not self.backend.etag_from_complete()

    @property
    def held(self) -> int:
        """Bytes in segments, waiting to become part of a part."""
        return sum(s.size for s in self.segments)

    def floor(self) -> int:
        """The least a part may hold: 5 MiB, more when the bytes still to come would not
        fit in the part numbers left (S3 allows 10,000)."""
        bound = self.length if self.length is not None else self.limit
        left = max(MAX_PARTS - self.parts_used - 1, 1)
        return max(MIN_PART, -(-(bound - self.offset + self.held) // left))

    def target(self) -> int:
        return max(self.floor(), self.ctx.settings.s3_part_size)

    # --- one request ------------------------------------------------------------------

    async def write(self, cutter: Cutter, declared: int | None) -> tuple[AsyncIterable[bytes], int] | None:
        """Commit the body's bytes as pieces. When they complete the upload, the last
        ones (fewer than a part and a half) are left for `assemble`: returned as
        (stream, size); None otherwise."""
        completes = declared is not None and self.length is not None and self.offset + declared == self.length
        if declared is not None:
            left = declared
            while left > 0:
                floor, target = self.floor(), self.target()
                avail = self.held + left
                if completes and avail < target + floor:
                    return cutter.take(left), left
                if avail < floor:
                    await self._segment(cutter.take(left), left)
                    break
                size = avail if avail < target + floor else target
                fresh = size - self.held
                await self._part(cutter.take(fresh), size)
                left -= fresh
            await cutter.finish()
            return (_bytes(b""), 0) if completes else None
        while True:  # no Content-Length: a part's worth at a time in memory
            want = max(self.floor() - self.held, 1)
            data = await cutter.read_upto(want)
            if len(data) == want:
                await self._part(_bytes(data), self.held + len(data))
                continue
            if self.length is not None and self.offset + len(data) == self.length:
                return _bytes(data), len(data)
            if data:
                await self._segment(_bytes(data), len(data))
            return None

    async def _part(self, fresh: AsyncIterable[bytes], size: int) -> Piece:
        number = await self._number("next_part")
        if self.backend_upload is None:
            upload_id = await self.backend.create_multipart(
                self.key, content_type=self.upload.describing.mimetype,
                cache_control=self.upload.describing.cache_control)
            try:
                await self.lease.set_backend_upload(upload_id)
            except BaseException:
                await self.backend.abort_multipart(self.key, upload_id)
                raise
            self.backend_upload = upload_id
        digest = hashlib.md5(usedforsecurity=False) if self.md5_parts else None
        stream = self._joined(self.segments, fresh, digest)
        info = await self.backend.upload_part(self.key, self.backend_upload, number, stream, size=size)
        start = self.offset - self.held
        piece = Piece(start, size, part=number, etag=info.etag, md5=digest.hexdigest() if digest else None)
        await self.lease.commit_piece(self.offset, piece)
        consumed, self.segments, self.offset = self.segments, [], start + size
        await self.drop_segments(consumed)
        return piece

    async def _segment(self, fresh: AsyncIterable[bytes], size: int) -> None:
        number = await self._number("next_segment")
        await self.backend.put(segment_key(self.ctx, self.upload.id, number), fresh, size=size,
                               content_type="application/octet-stream", cache_control="no-cache")
        piece = Piece(self.offset, size, segment=number)
        await self.lease.commit_piece(self.offset, piece)
        self.segments.append(piece)
        self.offset += size

    async def _number(self, counter: str) -> int:
        number = await self.lease.next_number(counter)
        if counter == "next_part":
            self.parts_used = number
            if number > MAX_PARTS:
                raise errors.EntityTooLarge("The upload has used all of its 10,000 parts")
        return number

    async def _joined(self, segments: list[Piece], fresh: AsyncIterable[bytes],
                      digest: Any) -> AsyncIterator[bytes]:
        """The segments' bytes, then the request's, hashed on the way when asked."""
        for segment in segments:
            assert segment.segment is not None
            stream = await self.backend.get(segment_key(self.ctx, self.upload.id, segment.segment))
            if stream.size != segment.size:
                await stream.aclose()
                raise errors.MissingBytes("A stored piece of the upload has the wrong size")
            async for chunk in stream.chunks:
                if digest is not None:
                    digest.update(chunk)
                yield chunk
        async for chunk in fresh:
            if digest is not None:
                digest.update(chunk)
            yield chunk

    async def drop_segments(self, segments: list[Piece]) -> None:
        keys = [segment_key(self.ctx, self.upload.id, s.segment) for s in segments if s.segment is not None]
        if keys:
            try:
                await self.backend.delete(keys)
            except Exception:  # noqa: BLE001 - garbage under the upload's prefix, removed at its end
                tus_state.log.warning("could not delete %d segment(s) of TUS upload %s", len(keys), self.upload.id)

    # --- the end --------------------------------------------------------------------------

    async def assemble(self, tail: AsyncIterable[bytes], tail_size: int) -> tuple[str, tuple[int, ...]]:
        """Write the whole object at its version key: the segments and `tail` after the
        committed parts. Returns its ETag (the store's when it keeps one, as Supabase
        stores it) and the part sizes (empty for a single put)."""
        rest = self.held + tail_size
        if self.backend_upload is None:
            hashing = not self.backend.etag_from_put(rest)
            digest = hashlib.md5(usedforsecurity=False) if hashing else None
            etag = await self.backend.put(self.key, self._joined(self.segments, tail, digest), size=rest,
                                          content_type=self.upload.describing.mimetype,
                                          cache_control=self.upload.describing.cache_control)
            if digest is not None:
                etag = f'"{digest.hexdigest()}"'
            if etag is None:
                raise errors.InternalError("The storage backend returned no ETag")
            return etag, ()
        parts = [p for p in await tus_state.pieces(self.ctx, self.upload.id) if p.part is not None]
        if rest:
            number = await self._number("next_part")
            digest = hashlib.md5(usedforsecurity=False) if self.md5_parts else None
            info = await self.backend.upload_part(self.key, self.backend_upload, number,
                                                  self._joined(self.segments, tail, digest), size=rest)
            parts.append(Piece(self.offset - self.held, rest, part=number, etag=info.etag,
                               md5=digest.hexdigest() if digest else None))
        etag = await self.backend.complete_multipart(
            self.key, self.backend_upload, [PartInfo(p.part or 0, p.etag or "") for p in parts])
        if etag is None:
            joined = b"".join(bytes.fromhex(p.md5 or "") for p in parts)
            etag = f'"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(parts)}"'
        return etag, tuple(p.size for p in parts)
