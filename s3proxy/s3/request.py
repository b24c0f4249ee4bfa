"""The plain request and response every S3 operation function sees: no tornado below here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from s3proxy import errors
from s3proxy.auth.chunked import RequestBody
from s3proxy.backends.base import ObjectStream
from s3proxy.storage.context import Ctx

MAX_XML_BODY = 1024 * 1024


async def read_all(body: RequestBody, limit: int = MAX_XML_BODY) -> bytes:
    """A small verified body (an XML document) in memory."""
    parts: list[bytes] = []
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > limit:
            raise errors.BodyTooLarge()
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
    body: RequestBody  # decoded and verified while it streams; checksums once it ended
    resource: str  # for error documents: /bucket/key
    bucket_url: str = ""  # the bucket's URL as the client addressed it (POST Object's Location)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def bucket_name(self) -> str:
        if self.bucket is None:
            raise errors.InvalidRequest("A bucket is required")
        return self.bucket

    @property
    def key_name(self) -> str:
        if self.key is None:
            raise errors.InvalidRequest("A key is required")
        return self.key

    async def xml_body(self, limit: int = MAX_XML_BODY) -> bytes:
        return await read_all(self.body, limit)


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


OperationFn = Callable[[S3Request], Awaitable[S3Response]]
