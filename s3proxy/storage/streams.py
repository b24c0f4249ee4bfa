"""Body streams: measure, hash and limit bytes while they flow, never holding more
than the chunk in hand."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable

from s3proxy.storage.errors import StorageError


class MeasuredBody:
    """Wraps a body: counts bytes, computes the MD5 (the ETag) unless told the store
    supplies the ETag, feeds extra observers (checksums), and stops with EntityTooLarge
    as soon as `limit` is passed."""

    def __init__(
        self,
        source: AsyncIterator[bytes],
        *,
        limit: int | None = None,
        expected_size: int | None = None,
        observers: list[Callable[[bytes], object]] | None = None,
        md5: bool = True,
    ) -> None:
        self._source = source
        self.limit = limit
        self.expected_size = expected_size
        self.observers = observers or []
        self.size = 0
        self._md5 = hashlib.md5() if md5 else None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise StorageError("EntityTooLarge", "The object exceeded the maximum allowed size")
            if self.expected_size is not None and self.size > self.expected_size:
                raise StorageError("IncompleteBody", "The body is longer than its declared Content-Length")
            if self._md5 is not None:
                self._md5.update(chunk)
            for observe in self.observers:
                observe(chunk)
            yield chunk
        if self.expected_size is not None and self.size != self.expected_size:
            raise StorageError("IncompleteBody")

    @property
    def etag(self) -> str:
        assert self._md5 is not None, "made with md5=False: the store supplies the ETag"
        return f'"{self._md5.hexdigest()}"'
