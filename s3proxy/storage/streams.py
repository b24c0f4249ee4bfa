"""Request bodies as the storage core sees them, and the one wrapper every write reads
them through: it counts, limits and hashes bytes while they flow, never holding more
than the chunk in hand.

A body is an async iterator of chunks with a `checksums` mapping that is complete once
iteration has ended: the S3 protocol verifies SigV4 chunk signatures, x-amz-checksum-*
and Content-MD5 while the bytes stream and raises from the iterator, before its end,
when one fails. The storage core relies on that contract: it reads a body to its very
end (`MeasuredBody.drain`) before it commits anything, so it only ever commits bytes
that were verified, and then records the checksums the body computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from s3proxy import errors
from s3proxy.auth.checksums import Checksum


class UploadBody(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @property
    def checksums(self) -> Mapping[str, str]:
        """{algorithm: base64} computed and verified, complete once iteration ended."""
        ...


class PlainBody:
    """A body nobody checksums (REST uploads, copies): just the chunks."""

    checksums: Mapping[str, str] = {}

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks


class MeasuredBody:
    """Wraps a body: counts bytes, computes the MD5 (the ETag) unless told the store
    supplies the ETag, and stops with EntityTooLarge as soon as `limit` is passed or
    IncompleteBody when the body differs from its declared size."""

    def __init__(self, source: UploadBody, *, limit: int | None = None, expected_size: int | None = None,
                 md5: bool = True, compute: tuple[str, ...] = ()) -> None:
        self._source = source
        self.limit = limit
        self.expected_size = expected_size
        self.size = 0
        self.ended = False
        self._md5 = hashlib.md5() if md5 else None
        # checksums the client did not send but the write needs (a part of an upload
        # whose CreateMultipartUpload chose an algorithm)
        self._computed = [Checksum(algorithm) for algorithm in compute]
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise errors.EntityTooLarge()
            if self.expected_size is not None and self.size > self.expected_size:
                raise errors.IncompleteBody("The body is longer than its declared Content-Length")
            if self._md5 is not None:
                self._md5.update(chunk)
            for checksum in self._computed:
                checksum.update(chunk)
            yield chunk
        if self.expected_size is not None and self.size != self.expected_size:
            raise errors.IncompleteBody()
        self.ended = True

    async def drain(self) -> None:
        """Read to the end whatever the consumer left (a consumer that stopped at the
        declared length never saw the end, where verification happens): any byte beyond
        fails the write."""
        async for _chunk in self:
            raise errors.IncompleteBody("The body is longer than its declared Content-Length")

    @property
    def checksums(self) -> Mapping[str, str]:
        assert self.ended, "checksums are known once the body has ended"
        if not self._computed:
            return self._source.checksums
        return {**{c.algorithm: c.b64digest() for c in self._computed}, **self._source.checksums}

    @property
    def etag(self) -> str:
        assert self._md5 is not None, "made with md5=False: the store supplies the ETag"
        return f'"{self._md5.hexdigest()}"'
