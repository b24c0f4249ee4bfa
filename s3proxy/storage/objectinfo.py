"""An object as its `storage.objects` row describes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import asyncpg

from s3proxy.storage.metadata import ObjectMetadata

OBJECT_COLUMNS = (
    "id, bucket_id, name, owner, owner_id, version, metadata, user_metadata,"
    " created_at, updated_at, last_accessed_at"
)


@dataclass(frozen=True)
class ObjectInfo:
    id: str
    bucket_id: str
    name: str
    owner: str | None
    owner_id: str | None
    version: str | None
    metadata: dict[str, Any]  # the stored JSON, as REST responses show it
    user_metadata: dict[str, Any] | None
    created_at: datetime | None
    updated_at: datetime | None
    last_accessed_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ObjectInfo:
        return cls(
            id=str(row["id"]),
            bucket_id=row["bucket_id"],
            name=row["name"],
            owner=str(row["owner"]) if row["owner"] else None,
            owner_id=row["owner_id"],
            version=row["version"],
            metadata=row["metadata"] or {},
            user_metadata=row["user_metadata"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_accessed_at=row["last_accessed_at"],
        )

    @cached_property
    def meta(self) -> ObjectMetadata:
        """The metadata JSON, read."""
        return ObjectMetadata.from_json(self.metadata)

    @property
    def size(self) -> int:
        return self.meta.size

    @property
    def etag(self) -> str:
        return self.meta.etag

    @property
    def content_type(self) -> str:
        return self.meta.describing.mimetype

    @property
    def cache_control(self) -> str:
        return self.meta.describing.cache_control

    @property
    def last_modified(self) -> datetime:
        return self.updated_at or self.created_at or datetime.now(UTC)
