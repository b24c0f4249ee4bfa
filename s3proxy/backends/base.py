"""The one interface every byte store implements.

Keys are opaque data keys (`{tenant}/{bucket}/{name}/{version}`) built by the storage
layer; the backend only stores and returns bytes. Bodies are async iterators of
chunks, consumed with backpressure; nothing reads a whole object into memory.
Hashing (ETag, checksums) and size limits happen in the storage layer, above this.

Failures raise s3proxy.errors classes: `NoSuchKey` for a missing key, `NoSuchUpload` for an
unknown multipart upload, `BackendUnavailable` (503) when the store cannot be reached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

Body = AsyncIterable[bytes]


@dataclass
class ObjectStream:
    """An open download: bytes `start..end` (inclusive) of an object of `size` bytes."""

    size: int
    start: int
    end: int
    chunks: AsyncIterator[bytes]

    async def aclose(self) -> None:
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            await close()


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    etag: str  # as the backend reports it; used only to complete the upload


@dataclass(frozen=True)
class StoredBlob:
    """One stored blob, as listed (for `sweep`)."""

    key: str | None  # its data key; None when the store's name cannot be mapped back to one
    name: str  # the store's own name for it: what `delete_stored` takes
    size: int
    modified: datetime  # aware, UTC


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload the store holds open."""

    key: str | None  # the data key it will complete to, when the store knows it
    upload_id: str
    started: datetime  # aware, UTC


class Backend(ABC):
    """A store of immutable byte blobs addressed by key."""

    @abstractmethod
    async def ping(self) -> None:
        """A cheap check that the store answers (readiness): raises BackendUnavailable
        or BackendError when it does not."""

    # listing, for `sweep`: async iterators that page through the store

    @abstractmethod
    def list_blobs(self, prefix: str) -> AsyncIterator[StoredBlob]:
        """Every blob whose data key starts with `prefix`, in no particular order."""

    @abstractmethod
    def list_uploads(self, prefix: str) -> AsyncIterator[PendingUpload]:
        """Open multipart uploads (those under `prefix`, where the store knows keys)."""

    def list_scratch(self) -> AsyncIterator[StoredBlob]:
        """Temporary files of writes in progress, or left by a process killed mid-write
        (their `key` is None). Stores that write in place have none."""
        return _nothing()

    async def delete_stored(self, blobs: list[StoredBlob]) -> None:
        """Delete listed blobs (from `list_blobs` or `list_scratch`) by their store name."""
        await self.delete([b.name for b in blobs])

    def etag_from_put(self, size: int | None) -> bool:
        """Will `put` of a body of this size return the store's own ETag for it? The
        caller then keeps that ETag, as Supabase Storage keeps its upstream's, instead of
        hashing the body itself (MD5 costs about 1.4 s of CPU per GiB)."""
        return False

    @abstractmethod
    async def put(self, key: str, body: Body, *, size: int | None, content_type: str,
                  cache_control: str) -> str | None:
        """Store `body` at `key`. `size` is the exact length when known, else None (the
        body is then sent in parts). On failure nothing is left at `key`. Returns the
        store's ETag (quoted) when `etag_from_put(size)` promised one, else None."""

    @abstractmethod
    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectStream:
        """Open bytes `start..end` (inclusive; `end=None` means to the end). The caller
        has already checked the range against the object's size."""

    @abstractmethod
    async def size(self, key: str) -> int:
        """The stored size in bytes; NoSuchKey if absent."""

    @abstractmethod
    async def copy(self, source: str, destination: str) -> None:
        """Server-side copy of a whole blob."""

    @abstractmethod
    async def delete(self, keys: list[str]) -> None:
        """Delete the keys; keys that do not exist are ignored."""

    # multipart, for the S3 protocol's multipart uploads

    @abstractmethod
    async def create_multipart(self, key: str, *, content_type: str, cache_control: str) -> str:
        """Start a multipart upload at `key`; returns the upload id."""

    @abstractmethod
    async def upload_part(self, key: str, upload_id: str, part_number: int, body: Body, *,
                          size: int) -> PartInfo:
        """Store one part of exactly `size` bytes."""

    @abstractmethod
    async def upload_part_copy(self, key: str, upload_id: str, part_number: int, source: str,
                               start: int, end: int) -> PartInfo:
        """Store bytes `start..end` (inclusive) of blob `source` as one part."""

    def etag_from_complete(self) -> bool:
        """Will `complete_multipart` return the store's ETag of the assembled blob? Then a
        caller that keeps the store's ETag (TUS, as Supabase does) need not hash parts."""
        return False

    @abstractmethod
    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> str | None:
        """Assemble the given parts, in order, into the blob at `key`. Returns the store's
        ETag (quoted) when `etag_from_complete()` promised one, else None."""

    @abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; an unknown upload is not an error."""

    async def close(self) -> None:
        """Release connections and file handles."""


async def _nothing() -> AsyncIterator[StoredBlob]:
    return
    yield  # an async generator that yields nothing
