"""JSON shapes of object responses (reference §1 serializer rules, §2.3).

The object whitelist writes NULL string fields (`owner`, `owner_id`, `version`) as ""
and keeps nullable ones (`id`, timestamps, `metadata`) as null; list v2 and info have
no serializer and use plain JSON.
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from s3proxy.rest.bucket_json import iso
from s3proxy.storage import metadata as meta
from s3proxy.storage.listing import V1Entry, V2Page
from s3proxy.storage.objectinfo import ObjectInfo

_dumps = partial(json.dumps, ensure_ascii=False)
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _string(text: str) -> str:
    """`text` as a JSON string; most names need no escaping, so skip the encoder then."""
    return _dumps(text) if _NEEDS_ESCAPE.search(text) else f'"{text}"'


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
        "size": info.metadata.get(meta.SIZE, info.metadata.get(meta.CONTENT_LENGTH)),
        "content_type": info.metadata.get(meta.MIMETYPE),
        "cache_control": info.metadata.get(meta.CACHE_CONTROL),
        "etag": info.metadata.get(meta.ETAG),
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


def _strings(texts: list[str]) -> list[str]:
    """JSON strings of `texts`; whether any needs escaping is checked once per page."""
    if _NEEDS_ESCAPE.search("".join(texts)):
        return [_string(text) for text in texts]
    return [f'"{text}"' for text in texts]


def v2_page_json(page: V2Page) -> str:
    """The list v2 body as JSON text. Written by hand rather than through `json.dumps`:
    a page has up to 1,000 objects whose ids, timestamps and metadata Postgres has
    already rendered as JSON values (`ListedRow`), so only names need escaping here."""
    folders = ",".join(
        f'{{"key":{_string(key)},"name":{_string(name)},"id":null,"updated_at":null,"created_at":null,'
        f'"last_accessed_at":null,"metadata":null}}'
        for key, name in page.folders
    )
    rows = [row for row, _ in page.objects]
    names = _strings([row.name for row in rows])
    keys = [key for _, key in page.objects]
    key_fields = [""] * len(rows)
    if any(key is not None for key in keys):  # with the delimiter: the name below the prefix
        key_fields = ["" if key is None else f',"key":{text}'
                      for key, text in zip(keys, _strings([key or "" for key in keys]), strict=True)]
    objects = ",".join([
        f'{{"id":"{row.id}","name":{name},"updated_at":{row.updated_at_json},"created_at":{row.created_at_json},'
        f'"last_accessed_at":{row.last_accessed_at_json},"metadata":{row.metadata_json}{key_field}}}'
        for row, name, key_field in zip(rows, names, key_fields, strict=True)
    ])
    cursor = "" if page.next_cursor is None else f',"nextCursor":{_string(page.next_cursor)}'
    has_next = "true" if page.has_next else "false"
    return f'{{"hasNext":{has_next}{cursor},"folders":[{folders}],"objects":[{objects}]}}'
