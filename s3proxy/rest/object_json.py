"""JSON shapes of object responses (reference §1 serializer rules, §2.3).

The object whitelist writes NULL string fields (`owner`, `owner_id`, `version`) as ""
and keeps nullable ones (`id`, timestamps, `metadata`) as null; list v2 and info have
no serializer and use plain JSON.
"""

from __future__ import annotations

from typing import Any

from s3proxy.rest.render import iso
from s3proxy.storage.listing import V1Entry, V2Page
from s3proxy.storage.objects import ObjectInfo


def object_row(info: ObjectInfo) -> dict[str, Any]:
    """A deleted/copied row through the object whitelist."""
    return {
        "bucket_id": info.bucket_id,
        "name": info.name,
        "owner": info.owner or "",
        "owner_id": info.owner_id or "",
        "version": info.version or "",
        "id": info.id,
        "updated_at": iso(info.updated_at),
        "created_at": iso(info.created_at),
        "last_accessed_at": iso(info.last_accessed_at),
        "metadata": info.metadata,
        "user_metadata": info.user_metadata,
    }


def copy_result(info: ObjectInfo) -> dict[str, Any]:
    return {"Id": info.id, "Key": f"{info.bucket_id}/{info.name}", **object_row(info)}


def info_json(info: ObjectInfo) -> dict[str, Any]:
    """GET /object/info/… (reference §2.3 "Info and HEAD")."""
    return {
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "bucket_id": info.bucket_id,
        "size": info.metadata.get("size", info.metadata.get("contentLength")),
        "content_type": info.metadata.get("mimetype"),
        "cache_control": info.metadata.get("cacheControl"),
        "etag": info.metadata.get("eTag"),
        "metadata": info.user_metadata,
        "last_modified": iso(info.updated_at),
        "created_at": iso(info.created_at),
    }


def v1_entry(entry: V1Entry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "id": entry.id,
        "updated_at": iso(entry.updated_at),
        "created_at": iso(entry.created_at),
        "last_accessed_at": iso(entry.last_accessed_at),
        "metadata": entry.metadata,
    }


def v2_page(page: V2Page) -> dict[str, Any]:
    folders = [
        {"key": key, "name": name, "id": None, "updated_at": None, "created_at": None,
         "last_accessed_at": None, "metadata": None}
        for key, name in page.folders
    ]
    objects = []
    for info, key in page.objects:
        item: dict[str, Any] = {
            "id": info.id,
            "name": info.name,
            "updated_at": iso(info.updated_at),
            "created_at": iso(info.created_at),
            "last_accessed_at": iso(info.last_accessed_at),
            "metadata": info.metadata,
        }
        if key is not None:
            item["key"] = key
        objects.append(item)
    body: dict[str, Any] = {"hasNext": page.has_next}
    if page.next_cursor is not None:
        body["nextCursor"] = page.next_cursor
    body["folders"] = folders
    body["objects"] = objects
    return body
