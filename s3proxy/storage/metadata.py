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
          PART_SIZES, PARTS_COUNT, *CONTENT_HEADERS.values(), *CHECKSUMS.values()}


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
class ObjectMetadata:
    """One version's metadata: what describes it plus what its bytes turned out to be."""

    etag: str
    size: int
    describing: Describing = field(default_factory=Describing)
    last_modified: str = ""  # ISO text, as Supabase stores it
    checksums: Mapping[str, str] = field(default_factory=dict)  # algorithm -> base64
    part_sizes: tuple[int, ...] = ()  # multipart uploads: each part's size
    other: Mapping[str, Any] = field(default_factory=dict)  # keys another server wrote

    @classmethod
    def new(cls, etag: str, size: int, describing: Describing, when: datetime, *,
            checksums: Mapping[str, str] | None = None, part_sizes: tuple[int, ...] = (),
            other: Mapping[str, Any] | None = None) -> ObjectMetadata:
        return cls(etag, size, describing, iso_millis(when), dict(checksums or {}), part_sizes, dict(other or {}))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ObjectMetadata:
        data = data or {}
        sizes = data.get(PART_SIZES)
        return cls(
            etag=str(data.get(ETAG) or '""'),
            size=_int(data.get(SIZE), _int(data.get(CONTENT_LENGTH), 0)),
            describing=Describing.from_json(data),
            last_modified=str(data.get(LAST_MODIFIED) or ""),
            checksums={alg: str(data[key]) for alg, key in CHECKSUMS.items() if data.get(key)},
            part_sizes=tuple(_int(s, 0) for s in sizes) if isinstance(sizes, list) else (),
            other={k: v for k, v in data.items() if k not in _KNOWN},
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in `storage.objects.metadata`."""
        data: dict[str, Any] = {**self.other, ETAG: self.etag, SIZE: self.size, LAST_MODIFIED: self.last_modified,
                                CONTENT_LENGTH: self.size, HTTP_STATUS: 200, **self.describing.to_json()}
        for algorithm, value in self.checksums.items():
            data[CHECKSUMS[algorithm]] = value
        if self.part_sizes:
            data[PART_SIZES] = list(self.part_sizes)
            data[PARTS_COUNT] = len(self.part_sizes)
        return data


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
