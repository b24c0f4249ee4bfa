"""Validation of keys and content types, and the size limit that applies to an upload."""

from __future__ import annotations

from s3proxy import errors
from s3proxy.config import Settings
from s3proxy.storage.buckets import Bucket

MAX_KEY_BYTES = 1024
EMPTY_FOLDER = ".emptyFolderPlaceholder"


def validate_key(name: str) -> str:
    """Any UTF-8 up to 1,024 bytes, as S3 allows (design decision: Supabase's ASCII-only
    rule is its oldest user complaint); only empty keys, NUL and control characters, and
    `.` / `..` segments fail."""
    if not isinstance(name, str) or name == "":
        raise errors.InvalidKey(f"Invalid key: {name}")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise errors.InvalidKey(f"Invalid key: {name!r}") from exc
    if len(encoded) > MAX_KEY_BYTES:
        raise errors.KeyTooLong("Your key is too long")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise errors.InvalidKey(f"Invalid key: {name!r}")
    if any(segment in (".", "..") for segment in name.split("/")):
        # relative segments are refused by common upstreams (SeaweedFS) and mean path
        # traversal to every file-system tool that later touches an export
        raise errors.InvalidKey(f"Invalid key: {name}")
    return name


def max_upload_size(bucket: Bucket, settings: Settings, *, standard: bool = True) -> int:
    """min(bucket limit, global limit[, standard-upload limit]) (reference §10)."""
    limit = settings.upload_file_size_limit
    if bucket.file_size_limit is not None:
        limit = min(limit, bucket.file_size_limit)
    if standard and settings.upload_file_size_limit_standard > 0:
        limit = min(limit, settings.upload_file_size_limit_standard)
    return limit


def check_mime_type(bucket: Bucket, mimetype: str) -> None:
    """Allowed when some entry has the same type and `*` or an equal subtype."""
    allowed = bucket.allowed_mime_types
    if not allowed:
        return
    parts = mimetype.split("/", 1)
    if len(parts) < 2:
        raise errors.InvalidMimeType(f"mime type {mimetype} is not supported")
    kind, subtype = parts[0].strip().lower(), parts[1].strip().lower()
    base_subtype = subtype.split(";", 1)[0].strip()
    for entry in allowed:
        e_parts = entry.split("/", 1)
        e_kind = e_parts[0].strip().lower()
        e_sub = e_parts[1].strip().lower() if len(e_parts) > 1 else ""
        if entry.strip() == "*" or entry.strip() == "*/*":
            return
        if e_kind == kind and (e_sub == "*" or e_sub == subtype or e_sub == base_subtype):
            return
    raise errors.InvalidMimeType(f"mime type {mimetype} is not supported")
