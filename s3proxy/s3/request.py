"""The plain request and response every S3 operation function sees: no tornado below here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from s3proxy.backends.base import ObjectStream
from s3proxy.storage.context import Ctx
from s3proxy.storage.errors import StorageError

MAX_XML_BODY = 1024 * 1024


class VerifiedSource(Protocol):
    """What auth/chunked.RequestBody offers: decoded, verified chunks."""

    length: int | None
    checksums: dict[str, str]

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Body:
    """The request body as verified bytes: an async iterator of chunks, plus what the
    verification learned (checksums) once the stream ended.

    The last chunk is held back until the whole body is verified (auth/chunked.py
    raises at the end of the stream), and `hooks` run between verification and
    releasing it. So a consumer that stops reading at the declared length, or commits
    right after the last chunk, still commits only verified bytes, and can record the
    checksums with them."""

    def __init__(self, source: VerifiedSource) -> None:
        self._source = source
        self.size = source.length  # decoded length when declared
        self.checksums: dict[str, str] = {}  # algorithm -> base64, after the end
        self.hooks: list[Callable[[Body], None]] = []
        self._used = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._used:
            raise StorageError("InternalError", "request body read twice")
        self._used = True
        return self._held_back()

    async def _held_back(self) -> AsyncIterator[bytes]:
        held: bytes | None = None
        async for chunk in self._source:
            if not chunk:
                continue
            if held is not None:
                yield held
            held = chunk
        self.checksums = dict(self._source.checksums)
        for hook in self.hooks:
            hook(self)
        if held is not None:
            yield held

    async def read_all(self, limit: int = MAX_XML_BODY) -> bytes:
        """A small body (XML documents) in memory; EntityTooLarge beyond `limit`."""
        parts: list[bytes] = []
        total = 0
        async for chunk in self:
            total += len(chunk)
            if total > limit:
                raise StorageError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
            parts.append(chunk)
        return b"".join(parts)


@dataclass
class S3Request:
    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    ctx: Ctx
    body: Body
    resource: str  # for error documents: /bucket/key

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def bucket_name(self) -> str:
        if self.bucket is None:
            raise StorageError("InvalidRequest", "A bucket is required")
        return self.bucket

    @property
    def key_name(self) -> str:
        if self.key is None:
            raise StorageError("InvalidRequest", "A key is required")
        return self.key


@dataclass
class S3Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: ObjectStream | None = None  # streamed after the headers (GetObject)
    xml: bool = False  # body is an XML document

    @classmethod
    def document(cls, body: bytes, status: int = 200, headers: list[tuple[str, str]] | None = None) -> S3Response:
        return cls(status=status, headers=headers or [], body=body, xml=True)
