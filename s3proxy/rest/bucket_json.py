"""Shapes of REST JSON responses: Supabase's serializer rules in one place.

Supabase serializes most responses through a schema that writes NULL strings as ""
(e.g. `owner` of a bucket made with the service key) while nullable fields stay null.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from s3proxy.storage.buckets import Bucket
from s3proxy.timefmt import iso_millis

_OLD_PY_CLIENT = re.compile(r"supabase-py/(\d+)\.(\d+)\.(\d+)")
_OLD_STORAGE3 = re.compile(r"supabase-py/storage3 v(\d+)\.(\d+)\.(\d+)")


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds: 2024-01-01T00:00:00.000Z."""
    return None if value is None else iso_millis(value)


def bucket_json(bucket: Bucket, *, with_type: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": bucket.id,
        "name": bucket.name,
        "owner": bucket.owner or "",
        "public": bucket.public,
        "created_at": iso(bucket.created_at),
        "updated_at": iso(bucket.updated_at),
        "file_size_limit": bucket.file_size_limit,
        "allowed_mime_types": bucket.allowed_mime_types,
    }
    if with_type:
        data["type"] = "STANDARD"
    return data


def client_accepts_bucket_type(client_info: str | None, user_agent: str | None) -> bool:
    """Old Python clients crash on `type` (reference §2.2): leave it out for them."""
    match = _OLD_PY_CLIENT.search(client_info or "")
    if match and tuple(int(x) for x in match.groups()) < (2, 18, 0):
        return False
    match = _OLD_STORAGE3.search(user_agent or "")
    if match and tuple(int(x) for x in match.groups()) < (0, 12, 1):
        return False
    return True
