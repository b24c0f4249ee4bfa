"""The TUS 1.0.0 wire (reference §2.5): headers in, headers out, upload URLs.

Upload URLs end in an opaque id, base64url of `bucket/object/version` as the
reference makes them; decoding validates every part, and anything else is "not found".
The Location header is absolute, as tus clients resolve it against nothing else: from
STORAGE_PUBLIC_URL when set, else from the request, or from X-Forwarded-Proto, -Host
and -Prefix when REQUEST_ALLOW_X_FORWARDED_PATH trusts the proxy in front. Nothing
here ever turns http into https.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from s3proxy import errors
from s3proxy.config import Settings
from s3proxy.storage.limits import validate_key
from s3proxy.storage.metadata import DEFAULT_CACHE_CONTROL, DEFAULT_MIMETYPE, Describing
from s3proxy.storage.tus import NewUpload, UploadRef

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
ROUTE = "/upload/resumable"
MAX_ID = 8192

_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOST = re.compile(r"^[A-Za-z0-9.\-_]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def encode_id(bucket_id: str, name: str, version: str) -> str:
    return base64.urlsafe_b64encode(f"{bucket_id}/{name}/{version}".encode()).rstrip(b"=").decode()


def decode_id(text: str) -> UploadRef:
    """The upload an id names; NoSuchUpload for anything that is not one of ours."""
    missing = errors.NoSuchUpload("Upload not found")
    if not text or len(text) > MAX_ID or not _ID.match(text):
        raise missing
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise missing from None
    rest, _, version = raw.rpartition("/")
    bucket_id, _, name = rest.partition("/")
    try:
        if not bucket_id or str(uuid.UUID(version)) != version:
            raise missing
        validate_key(name)
    except (ValueError, errors.Error):
        raise missing from None
    return UploadRef(bucket_id, name, version)


def parse_metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (the value optional)."""
    pairs: dict[str, str] = {}
    if header is None or not header.strip():
        return pairs
    for item in header.split(","):
        key, _, value = item.strip().partition(" ")
        value = value.strip()
        if not _KEY.match(key) or key in pairs or " " in value:
            raise errors.InvalidRequest("Upload-Metadata is invalid")
        try:
            pairs[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise errors.InvalidRequest("Upload-Metadata is invalid") from None
    return pairs


def target_of(metadata: Mapping[str, str]) -> tuple[str, str]:
    bucket_id, name = metadata.get("bucketName"), metadata.get("objectName")
    if not bucket_id or not name:
        raise errors.InvalidRequest("Upload-Metadata must name the bucketName and objectName")
    return bucket_id, name


def _user_metadata(text: str | None) -> dict[str, Any] | None:
    """`metadata`: a JSON object, else ignored (as x-metadata on REST uploads)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _cache_control(value: str | None) -> str:
    """Reference: integer seconds become `max-age=N`, anything else `no-cache`."""
    if value is not None and value.strip().isdigit():
        return f"max-age={int(value.strip())}"
    return DEFAULT_CACHE_CONTROL


def non_negative(value: str | None, header: str) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or len(value.strip()) > 18:
        raise errors.InvalidRequest(f"{header} must be a non-negative integer")
    return int(value)


def new_upload(headers: Mapping[str, str], *, upsert: bool) -> NewUpload:
    """A creation request's upload, from Upload-Length / Upload-Defer-Length and the metadata."""
    length = non_negative(headers.get("Upload-Length"), "Upload-Length")
    deferred = headers.get("Upload-Defer-Length")
    if deferred is not None and (deferred.strip() != "1" or length is not None):
        raise errors.InvalidRequest("Upload-Defer-Length must be 1, and without Upload-Length")
    if length is None and deferred is None:
        raise errors.InvalidRequest("Upload-Length or Upload-Defer-Length header required")
    raw = headers.get("Upload-Metadata")
    metadata = parse_metadata(raw)
    bucket_id, name = target_of(metadata)
    describing = Describing(mimetype=metadata.get("contentType") or DEFAULT_MIMETYPE,
                            cache_control=_cache_control(metadata.get("cacheControl")))
    return NewUpload(bucket_id, name, length, upsert, describing, _user_metadata(metadata.get("metadata")), raw)


def http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def base_url(settings: Settings, protocol: str, host: str, path: str, headers: Mapping[str, str]) -> str:
    """Where `/upload/resumable` is, as the client reaches it: STORAGE_PUBLIC_URL, else
    the request's scheme, host and mount point (the path before /upload/resumable, for
    a server mounted under a prefix), with the proxy's view when it is trusted."""
    if settings.storage_public_url:
        return settings.storage_public_url
    mount = path[: path.find(ROUTE)] if ROUTE in path else ""
    prefix = ""
    if settings.request_allow_x_forwarded_path:
        proto = _first(headers.get("X-Forwarded-Proto")).lower()
        if proto in ("http", "https"):
            protocol = proto
        forwarded_host = _first(headers.get("X-Forwarded-Host"))
        if forwarded_host and _HOST.match(forwarded_host):
            host = forwarded_host
        prefix = _first(headers.get("X-Forwarded-Prefix")).rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
    if not _HOST.match(host):
        host = "localhost"
    return f"{protocol}://{host}{quote(prefix + mount, safe='/-._~%!$&()*+,;=:@')}"
