"""The shape of `storage.objects.metadata`: the one place that knows its JSON keys.

Supabase Storage writes `eTag`, `size`, `mimetype`, `cacheControl`, `lastModified`,
`contentLength`, `httpStatusCode` and optionally `xRobotsTag` (reference §2.3), and
clients read them back through REST listings and info. What only the S3 protocol
records (the other content headers, tags, checksums, multipart part sizes) lives in
the same JSON object under keys of its own, so it follows copies and moves and dies
with the object. Keys this server does not know (written by another Supabase Storage
sharing the database) are kept as they are.

Listings read a few keys in SQL (`metadata->>'eTag'`): they use the constants below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from s3proxy.timefmt import iso_millis

ETAG = "eTag"
SIZE = "size"
MIMETYPE = "mimetype"
CACHE_CONTROL = "cacheControl"
LAST_MODIFIED = "lastModified"
CONTENT_LENGTH = "contentLength"
HTTP_STATUS = "httpStatusCode"
ROBOTS = "xRobotsTag"
TAGS = "tags"
PART_SIZES = "s3PartSizes"
PARTS_COUNT = "s3PartsCount"
CHECKSUM_TYPE = "checksumType"  # COMPOSITE or FULL_OBJECT, for a multipart object's checksum
PART_CHECKSUMS = "s3PartChecksums"  # a COMPOSITE object's parts' checksums, in part order
# on an upload's row (storage.s3_multipart_uploads.metadata), beside the Describing keys:
# the checksum CreateMultipartUpload chose, which its parts and completion must follow
UPLOAD_CHECKSUM_ALGORITHM = "s3ChecksumAlgorithm"
UPLOAD_CHECKSUM_TYPE = "s3ChecksumType"
# HTTP content header -> key, for the ones an S3 upload may set beyond type and caching
CONTENT_HEADERS = {
    "Content-Disposition": "contentDisposition",
    "Content-Encoding": "contentEncoding",
    "Content-Language": "contentLanguage",
    "Expires": "expires",
}
# checksum algorithm -> key
CHECKSUMS = {"crc32": "checksumCRC32", "crc32c": "checksumCRC32C", "crc64nvme": "checksumCRC64NVME",
             "sha1": "checksumSHA1", "sha256": "checksumSHA256"}

DEFAULT_MIMETYPE = "application/octet-stream"
DEFAULT_CACHE_CONTROL = "no-cache"

_KNOWN = {ETAG, SIZE, MIMETYPE, CACHE_CONTROL, LAST_MODIFIED, CONTENT_LENGTH, HTTP_STATUS, ROBOTS, TAGS,
          PART_SIZES, PARTS_COUNT, CHECKSUM_TYPE, PART_CHECKSUMS, *CONTENT_HEADERS.values(), *CHECKSUMS.values()}


@dataclass(frozen=True)
class Describing:
    """What a writer says about an object, before its bytes exist: the content headers,
    robots rule and tags. Copies carry it over; S3's REPLACE directives swap it."""

    mimetype: str = DEFAULT_MIMETYPE
    cache_control: str = DEFAULT_CACHE_CONTROL
    content_headers: Mapping[str, str] = field(default_factory=dict)  # header name -> value
    robots: str | None = None
    tags: Mapping[str, str] | None = None

    def with_tags(self, tags: Mapping[str, str] | None) -> Describing:
        return replace(self, tags=tags)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Describing:
        tags = data.get(TAGS)
        return cls(
            mimetype=str(data.get(MIMETYPE) or DEFAULT_MIMETYPE),
            cache_control=str(data.get(CACHE_CONTROL) or DEFAULT_CACHE_CONTROL),
            content_headers={h: str(data[k]) for h, k in CONTENT_HEADERS.items() if data.get(k)},
            robots=str(data[ROBOTS]) if data.get(ROBOTS) else None,
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) and tags else None,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {MIMETYPE: self.mimetype, CACHE_CONTROL: self.cache_control}
        if self.robots:
            data[ROBOTS] = self.robots
        for header, value in self.content_headers.items():
            data[CONTENT_HEADERS[header]] = value
        if self.tags:
            data[TAGS] = dict(self.tags)
        return data


@dataclass(frozen=True)
class Parts:
    """How a multipart object was assembled: each part's size and, for a COMPOSITE
    checksum (a checksum of the parts' checksums, `value-N`), each part's checksum."""

    sizes: tuple[int, ...] = ()
    checksums: tuple[str, ...] = ()  # base64, aligned with `sizes`; empty unless COMPOSITE
    checksum_type: str | None = None  # COMPOSITE / FULL_OBJECT when the object has a checksum


@dataclass(frozen=True)
class ObjectMetadata:
    """One version's metadata: what describes it plus what its bytes turned out to be."""

    etag: str
    size: int
    describing: Describing = field(default_factory=Describing)
    last_modified: str = ""  # ISO text, as Supabase stores it
    checksums: Mapping[str, str] = field(default_factory=dict)  # algorithm -> base64 (`-N` if COMPOSITE)
    parts: Parts = field(default_factory=Parts)  # multipart uploads
    other: Mapping[str, Any] = field(default_factory=dict)  # keys another server wrote

    @property
    def part_sizes(self) -> tuple[int, ...]:
        return self.parts.sizes

    @property
    def checksum_type(self) -> str:
        """COMPOSITE for a multipart object's checksum of checksums, else FULL_OBJECT."""
        return self.parts.checksum_type or "FULL_OBJECT"

    @classmethod
    def new(cls, etag: str, size: int, describing: Describing, when: datetime, *,
            checksums: Mapping[str, str] | None = None, parts: Parts | None = None,
            other: Mapping[str, Any] | None = None) -> ObjectMetadata:
        return cls(etag, size, describing, iso_millis(when), dict(checksums or {}), parts or Parts(),
                   dict(other or {}))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ObjectMetadata:
        data = data or {}
        sizes = data.get(PART_SIZES)
        part_checksums = data.get(PART_CHECKSUMS)
        kind = data.get(CHECKSUM_TYPE)
        return cls(
            etag=str(data.get(ETAG) or '""'),
            size=_int(data.get(SIZE), _int(data.get(CONTENT_LENGTH), 0)),
            describing=Describing.from_json(data),
            last_modified=str(data.get(LAST_MODIFIED) or ""),
            checksums={alg: str(data[key]) for alg, key in CHECKSUMS.items() if data.get(key)},
            parts=Parts(
                sizes=tuple(_int(s, 0) for s in sizes) if isinstance(sizes, list) else (),
                checksums=tuple(str(c) for c in part_checksums) if isinstance(part_checksums, list) else (),
                checksum_type=str(kind) if kind in ("COMPOSITE", "FULL_OBJECT") else None,
            ),
            other={k: v for k, v in data.items() if k not in _KNOWN},
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in `storage.objects.metadata`."""
        data: dict[str, Any] = {**self.other, ETAG: self.etag, SIZE: self.size, LAST_MODIFIED: self.last_modified,
                                CONTENT_LENGTH: self.size, HTTP_STATUS: 200, **self.describing.to_json()}
        for algorithm, value in self.checksums.items():
            data[CHECKSUMS[algorithm]] = value
        if self.parts.sizes:
            data[PART_SIZES] = list(self.parts.sizes)
            data[PARTS_COUNT] = len(self.parts.sizes)
        if self.parts.checksums:
            data[PART_CHECKSUMS] = list(self.parts.checksums)
        if self.parts.checksum_type and self.checksums:
            data[CHECKSUM_TYPE] = self.parts.checksum_type
        return data


def upload_json(describing: Describing, checksum: tuple[str, str] | None) -> dict[str, Any]:
    """An upload row's metadata: what describes the object to be, and the checksum
    (algorithm, type) CreateMultipartUpload chose."""
    data = describing.to_json()
    if checksum is not None:
        data[UPLOAD_CHECKSUM_ALGORITHM], data[UPLOAD_CHECKSUM_TYPE] = checksum
    return data


def upload_checksum(data: Mapping[str, Any]) -> tuple[str, str] | None:
    algorithm, kind = data.get(UPLOAD_CHECKSUM_ALGORITHM), data.get(UPLOAD_CHECKSUM_TYPE)
    if algorithm in CHECKSUMS and kind in ("COMPOSITE", "FULL_OBJECT"):
        return str(algorithm), str(kind)
    return None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
