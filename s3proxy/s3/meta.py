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

from s3proxy import errors
from s3proxy.auth.chunked import stored_content_encoding
from s3proxy.storage.metadata import CONTENT_HEADERS, DEFAULT_CACHE_CONTROL, DEFAULT_MIMETYPE, Describing
from s3proxy.storage.objectinfo import ObjectInfo

META_PREFIX = "x-amz-meta-"
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
        raise errors.MetadataTooLarge()
    return found or None


def content_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Content-Disposition, Content-Encoding (minus aws-chunked), Content-Language, Expires."""
    found: dict[str, str] = {}
    for header in CONTENT_HEADERS:
        value = headers.get(header.lower())
        if header == "Content-Encoding":
            value = stored_content_encoding(value)
        if value:
            found[header] = _header_text(value)
    return found


def describing(headers: Mapping[str, str]) -> Describing:
    """What PutObject, CopyObject (REPLACE) and CreateMultipartUpload headers say about the object."""
    return Describing(
        mimetype=headers.get("content-type") or DEFAULT_MIMETYPE,
        cache_control=headers.get("cache-control") or DEFAULT_CACHE_CONTROL,
        content_headers=content_headers(headers),
        tags=parse_tagging_header(headers.get("x-amz-tagging")) or None,
    )


def parse_tagging_header(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    return check_tags(parse_qsl(value, keep_blank_values=True))


def check_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key")
        if not 0 < len(key) <= 128 or len(value) > 256:
            raise errors.InvalidTag("The TagKey or TagValue you have provided is too long")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise errors.InvalidTag("Object tags cannot be greater than 10")
    return tags


def checksum_headers(checksums: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(f"x-amz-checksum-{alg}", value) for alg, value in checksums.items()]


def object_headers(info: ObjectInfo, *, checksums: bool = False, part: int | None = None) -> list[tuple[str, str]]:
    """What GET and HEAD say about an object (not Content-Length / Content-Range). With
    `checksums` (x-amz-checksum-mode: ENABLED), the object's checksum and its type; for
    one `part` of a COMPOSITE multipart object, that part's checksum, as AWS answers."""
    meta = info.meta
    headers = [("ETag", info.etag), ("Last-Modified", http_date(info)), ("Content-Type", info.content_type),
               ("Cache-Control", info.cache_control), ("Accept-Ranges", "bytes")]
    for header, value in meta.describing.content_headers.items():
        headers.append((header, _mail_safe(value)))
    for name, value in (info.user_metadata or {}).items():
        text = value if isinstance(value, str) else str(value)
        headers.append((META_PREFIX + str(name).lower(), _mail_safe(text)))
    if meta.describing.tags:
        headers.append(("x-amz-tagging-count", str(len(meta.describing.tags))))
    if meta.part_sizes:
        headers.append(("x-amz-mp-parts-count", str(len(meta.part_sizes))))
    if checksums and meta.checksums:
        if part is None:
            headers += checksum_headers(meta.checksums)
            headers.append(("x-amz-checksum-type", meta.checksum_type))
        elif 0 < part <= len(meta.parts.checksums):
            algorithm = next(iter(meta.checksums))
            headers += [(f"x-amz-checksum-{algorithm}", meta.parts.checksums[part - 1]),
                        ("x-amz-checksum-type", meta.checksum_type)]
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
