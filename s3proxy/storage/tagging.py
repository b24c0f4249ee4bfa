"""Object tags, kept in `objects.metadata.tags` so they follow copies and die with the
object; changing them is an UPDATE as the caller (RLS decides) that leaves the bytes,
the version and `updated_at` alone (tagging does not change Last-Modified on S3)."""

from __future__ import annotations

from s3proxy import errors
from s3proxy.storage.context import Ctx
from s3proxy.storage.metadata import TAGS as TAGS_KEY
from s3proxy.storage.objectinfo import OBJECT_COLUMNS, ObjectInfo
from s3proxy.storage.objects import find_object


async def set_tags(ctx: Ctx, bucket_id: str, name: str, tags: dict[str, str] | None) -> ObjectInfo:
    """Replace the object's tags (None or {} removes them)."""
    async with ctx.user() as conn:
        if tags:
            row = await conn.fetchrow(
                f"UPDATE storage.objects SET metadata = coalesce(metadata, '{{}}'::jsonb)"
                f" || jsonb_build_object('{TAGS_KEY}', $3::jsonb) WHERE bucket_id = $1 AND name = $2"
                f" RETURNING {OBJECT_COLUMNS}",
                bucket_id, name, tags,
            )
        else:
            row = await conn.fetchrow(
                f"UPDATE storage.objects SET metadata = coalesce(metadata, '{{}}'::jsonb) - '{TAGS_KEY}'"
                f" WHERE bucket_id = $1 AND name = $2 RETURNING {OBJECT_COLUMNS}",
                bucket_id, name,
            )
    if row is None:
        await find_object(ctx, bucket_id, name, mode="user")  # NoSuchKey if hidden/absent
        raise errors.AccessDenied()
    return ObjectInfo.from_row(row)
