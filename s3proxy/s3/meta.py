"""S3 headers ↔ stored object metadata, both directions.

What an S3 upload says about its object is kept where the REST API keeps it too, so
either protocol reads what the other wrote: Content-Type and Cache-Control in
`metadata.mimetype` / `metadata.cacheControl`, `x-amz-meta-*` in `user_metadata`
(decoded to real UTF-8: AWS decodes RFC 2047 on the way in and encodes on the way
out), the other content headers and the tags as extra keys of `metadata`, so they
follow copies and die with the object.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email.header import decode_header
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from s3proxy.auth.chunked import stored_content_encoding
from s3proxy.storage.errors import StorageError
from s3proxy.storage.objects import ObjectInfo

META_PREFIX = "x-amz-meta-"
# response header -> metadata key, for the content headers beyond type and cache control
EXTRA_HEADERS = {
    "Content-Disposition": "contentDisposition",
    "Content-Encoding": "contentEncoding",
    "Content-Language": "contentLanguage",
    "Expires": "expires",
}
TAGS = "tags"
CHECKSUM_KEYS = {"crc32": "checksumCRC32", "crc32c": "checksumCRC32C", "crc64nvme": "checksumCRC64NVME",
                 "sha1": "checksumSHA1", "sha256": "checksumSHA256"}
MAX_TAGS = 10


def http_date(info: ObjectInfo) -> str:
    return format_datetime(info.last_modified.replace(microsecond=0), usegmt=True)


def _header_text(value: str) -> str:
    """A header value as the client meant it: tornado decodes bytes as latin-1, clients
    send raw UTF-8 or RFC 2047 encoded words."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if "=?" in value and "?=" in value:
        try:
            parts = decode_header(value)
            value = "".join(p.decode(c or "utf-8") if isinstance(p, bytes) else p for p, c in parts)
        except (ValueError, LookupError, UnicodeDecodeError):
            pass
    return value


def _mail_safe(value: str) -> str:
    """RFC 2047 for values that are not printable ASCII (AWS does the same)."""
    if all(32 <= ord(c) < 127 for c in value):
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


def user_metadata(headers: Mapping[str, str]) -> dict[str, Any] | None:
    found = {name[len(META_PREFIX):]: _header_text(value) for name, value in headers.items()
             if name.startswith(META_PREFIX) and len(name) > len(META_PREFIX)}
    if sum(len(k) + len(v.encode()) for k, v in found.items()) > 2048:
        raise StorageError("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.",
                           status=400)
    return found or None


def extra_metadata(headers: Mapping[str, str]) -> dict[str, Any]:
    """Content-Disposition, Content-Encoding (minus aws-chunked), Content-Language, Expires."""
    extra: dict[str, Any] = {}
    for header, key in EXTRA_HEADERS.items():
        value = headers.get(header.lower())
        if header == "Content-Encoding":
            value = stored_content_encoding(value)
        if value:
            extra[key] = _header_text(value)
    return extra


def parse_tagging_header(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    return check_tags(parse_qsl(value, keep_blank_values=True))


def check_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise StorageError("InvalidTag", "Cannot provide multiple Tags with the same key")
        if not 0 < len(key) <= 128 or len(value) > 256:
            raise StorageError("InvalidTag", "The TagKey or TagValue you have provided is too long")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise StorageError("InvalidTag", "Object tags cannot be greater than 10")
    return tags


def record_checksums(extra: dict[str, Any], checksums: Mapping[str, str]) -> None:
    for algorithm, value in checksums.items():
        extra[CHECKSUM_KEYS[algorithm]] = value


def checksum_headers(checksums: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(f"x-amz-checksum-{alg}", value) for alg, value in checksums.items()]


def stored_checksums(info: ObjectInfo) -> dict[str, str]:
    return {alg: str(info.metadata[key]) for alg, key in CHECKSUM_KEYS.items() if info.metadata.get(key)}


def object_headers(info: ObjectInfo, *, checksums: bool = False) -> list[tuple[str, str]]:
    """What GET and HEAD say about an object (not Content-Length / Content-Range)."""
    headers = [("ETag", info.etag), ("Last-Modified", http_date(info)), ("Content-Type", info.content_type),
               ("Cache-Control", info.cache_control), ("Accept-Ranges", "bytes")]
    for header, key in EXTRA_HEADERS.items():
        if info.metadata.get(key):
            headers.append((header, _mail_safe(str(info.metadata[key]))))
    for name, value in (info.user_metadata or {}).items():
        text = value if isinstance(value, str) else str(value)
        headers.append((META_PREFIX + str(name).lower(), _mail_safe(text)))
    tags = info.metadata.get(TAGS)
    if tags:
        headers.append(("x-amz-tagging-count", str(len(tags))))
    parts = info.metadata.get("s3PartsCount")
    if parts:
        headers.append(("x-amz-mp-parts-count", str(parts)))
    if checksums:
        found = stored_checksums(info)
        headers += checksum_headers(found)
        if found:
            headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
    return headers


RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def apply_overrides(headers: list[tuple[str, str]], query: Mapping[str, str]) -> list[tuple[str, str]]:
    """GetObject's response-* query parameters replace the stored content headers."""
    chosen = {RESPONSE_OVERRIDES[k]: v for k, v in query.items() if k in RESPONSE_OVERRIDES}
    if not chosen:
        return headers
    kept = [(n, v) for n, v in headers if n not in chosen]
    return kept + [(n, _mail_safe(v)) for n, v in chosen.items()]
