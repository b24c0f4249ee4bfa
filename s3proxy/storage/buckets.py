"""Bucket operations, shared by the REST and S3 protocols (reference §2.2)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from s3proxy import errors
from s3proxy.db.scope import run_as
from s3proxy.storage.context import Ctx

log = logging.getLogger("s3proxy.storage")

_BUCKET_NAME = re.compile(r"^[A-Za-z0-9_!.*'() &$=@;:+,?-]+$")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([gG][bB]|[mM][bB]|[kK][bB]|[bB])$")
_UNITS = {"gb": 10**9, "mb": 10**6, "kb": 10**3, "b": 1}
_MIME = re.compile(r"^([a-zA-Z0-9\-+.]+)/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9\-]+)?$")
SORT_COLUMNS = ("id", "name", "created_at", "updated_at")

UNSET: Any = object()  # "field not given" in updates, distinct from None ("clear it")


@dataclass(frozen=True)
class Bucket:
    id: str
    name: str
    owner: str | None
    owner_id: str | None
    public: bool
    file_size_limit: int | None
    allowed_mime_types: list[str] | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Bucket:
        return cls(
            id=row["id"],
            name=row["name"],
            owner=str(row["owner"]) if row["owner"] else None,
            owner_id=row["owner_id"],
            public=bool(row["public"]),
            file_size_limit=row["file_size_limit"],
            allowed_mime_types=list(row["allowed_mime_types"]) if row["allowed_mime_types"] is not None else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


_COLUMNS = "id, name, owner, owner_id, public, file_size_limit, allowed_mime_types, created_at, updated_at"


def validate_bucket_name(name: Any) -> str:
    """Supabase's rule (reference §10), which every bucket meets whichever protocol
    made it: 1-100 characters of a set that allows upper case, `_`, spaces and more."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= 100
        or not _BUCKET_NAME.match(name)
        or name != name.strip()
        or name.endswith("--table-s3")
        or name in (".", "..")  # path segments to every store and tool below us
    ):
        raise errors.InvalidBucketName("Bucket name invalid")
    return name


S3_NAME_LENGTH = (3, 63)


def validate_s3_bucket_name(name: str) -> str:
    """What S3 CreateBucket adds to Supabase's rule: AWS's length, 3-63 characters.

    Both protocols see the same buckets, so the rules nest: a bucket S3 may create is
    one REST may create too, and every existing bucket, whatever made it, is reachable
    through both (S3 refuses only to *create* a name outside AWS's length; a one-letter
    bucket made over REST still lists, reads and writes over S3, path-style). AWS's
    lower-case DNS rule is not applied: Supabase's own S3 endpoint creates `Avatars`
    and `my_files` like its REST API does, and path-style addressing never needs a
    DNS label."""
    validate_bucket_name(name)
    low, high = S3_NAME_LENGTH
    if not low <= len(name) <= high:
        raise errors.InvalidBucketName(f"Bucket name must be between {low} and {high} characters long")
    return name


def parse_file_size_limit(value: Any, global_limit: int) -> int | None:
    """An int ≥ 0, null, or "<n>[.n](GB|MB|KB|B)" in decimal units, 3 significant digits."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value.strip())
        if not match:
            if value.strip().isdigit():
                size = int(value.strip())
            else:
                raise errors.InvalidRequest("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"
                )
        else:
            number = Decimal(match.group(1)) * _UNITS[match.group(2).lower()]
            if number != 0:
                digits = number.adjusted() - 2
                number = number.scaleb(-digits).quantize(Decimal(1), ROUND_HALF_UP).scaleb(digits)
            size = int(number)
    else:
        raise errors.InvalidRequest("The file size limit must be an integer or a size such as 20MB")
    if size < 0:
        raise errors.InvalidRequest("The file size limit must be >= 0")
    if size > global_limit:
        raise errors.EntityTooLarge("The object exceeded the maximum allowed size")
    return size


def validate_mime_types(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.InvalidRequest("The allowed mime types must be a list of strings")
    types = [v for v in value if v != ""]
    for mime in types:
        if len(mime) > 1000 or not (_MIME.match(mime) or mime.endswith("*")):
            raise errors.InvalidMimeType(f"Invalid mime type format: {mime}")
    return types


async def create_bucket(
    ctx: Ctx,
    name: str,
    *,
    bucket_id: str | None = None,
    public: bool = False,
    file_size_limit: Any = None,
    allowed_mime_types: Any = None,
) -> str:
    """Insert the bucket as the caller (RLS decides); returns its id. A taken name is
    BucketAlreadyOwnedByYou when the caller made that bucket (same `owner_id`, which is
    None for service_role and the static S3 keys), else BucketAlreadyExists."""
    validate_bucket_name(name)
    bucket_id = validate_bucket_name(bucket_id) if bucket_id is not None else name
    limit = parse_file_size_limit(file_size_limit, ctx.settings.upload_file_size_limit)
    mimes = validate_mime_types(allowed_mime_types)
    try:
        async with ctx.user() as conn:
            await conn.execute(
                "INSERT INTO storage.buckets (id, name, owner, owner_id, public, file_size_limit,"
                " allowed_mime_types) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                bucket_id,
                name,
                ctx.principal.owner,
                ctx.principal.sub,
                bool(public),
                limit,
                mimes,
            )
    except errors.ResourceAlreadyExists as exc:
        try:
            existing = await find_bucket_as_service(ctx, bucket_id)
        except errors.NoSuchBucket:  # deleted since: the name was taken when we tried
            raise errors.BucketAlreadyExists() from exc
        if existing.owner_id == ctx.principal.sub:
            raise errors.BucketAlreadyOwnedByYou() from exc
        raise errors.BucketAlreadyExists() from exc
    return bucket_id


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_buckets(
    ctx: Ctx,
    *,
    limit: int | None = None,
    offset: int | None = None,
    sort_column: str | None = None,
    sort_order: str | None = None,
    search: str | None = None,
) -> list[Bucket]:
    """Buckets the caller may see (RLS SELECT); `sort_column` one of SORT_COLUMNS and
    `sort_order` asc or desc (the protocols validate them)."""
    sql = f"SELECT {_COLUMNS} FROM storage.buckets WHERE type = 'STANDARD'"
    args: list[Any] = []
    if search:
        args.append(f"%{_escape_like(search)}%")
        sql += f" AND name ILIKE ${len(args)}"
    if sort_column:
        order = (sort_order or "asc").lower()
        if sort_column not in SORT_COLUMNS or order not in ("asc", "desc"):
            raise errors.InvalidArgument(f"Cannot sort by {sort_column} {order}")
        sql += f" ORDER BY {sort_column} {order}, id"
    if limit is not None:
        args.append(limit)
        sql += f" LIMIT ${len(args)}"
    if offset is not None:
        args.append(offset)
        sql += f" OFFSET ${len(args)}"
    async with ctx.user() as conn:
        rows = await conn.fetch(sql, *args)
    return [Bucket.from_row(r) for r in rows]


async def get_bucket(ctx: Ctx, bucket_id: str) -> Bucket:
    """The bucket as the caller sees it; NoSuchBucket when absent or hidden by RLS."""
    async with ctx.user() as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM storage.buckets WHERE id = $1", bucket_id)
    if row is None:
        raise errors.NoSuchBucket("Bucket not found")
    return Bucket.from_row(row)


async def find_bucket_as_service(ctx: Ctx, bucket_id: str) -> Bucket:
    """The bucket's limits and visibility, looked up in service scope (reference §2.3 step 1)."""
    row = await ctx.lookup("s3proxy_scoped_bucket", bucket_id, as_service=True)
    if row is None:
        raise errors.NoSuchBucket("Bucket not found")
    return Bucket.from_row(row)


async def update_bucket(
    ctx: Ctx,
    bucket_id: str,
    *,
    public: Any = UNSET,
    file_size_limit: Any = UNSET,
    allowed_mime_types: Any = UNSET,
) -> None:
    """Change only the given fields; None clears the limit or the mime list."""
    sets: list[str] = []
    args: list[Any] = [bucket_id]
    if public is not UNSET:
        args.append(bool(public))
        sets.append(f"public = ${len(args)}")
    if file_size_limit is not UNSET:
        args.append(parse_file_size_limit(file_size_limit, ctx.settings.upload_file_size_limit))
        sets.append(f"file_size_limit = ${len(args)}")
    if allowed_mime_types is not UNSET:
        args.append(validate_mime_types(allowed_mime_types))
        sets.append(f"allowed_mime_types = ${len(args)}")
    if not sets:
        raise errors.InvalidRequest("Nothing to update: give public, file_size_limit or allowed_mime_types")
    sets.append("updated_at = now()")
    async with ctx.user() as conn:
        row = await conn.fetchrow(
            f"UPDATE storage.buckets SET {', '.join(sets)} WHERE id = $1 RETURNING id", *args
        )
    if row is None:
        raise errors.NoSuchBucket("Bucket not found")


async def delete_bucket(ctx: Ctx, bucket_id: str) -> None:
    """Delete a bucket that holds no objects. Unfinished multipart uploads do not count
    against an empty bucket (AWS counts only objects): they are aborted with it, their
    parts removed from the backend once the deletion has committed.

    One transaction, the bucket row locked first. Everything that adds to a bucket
    (an object's commit, a new upload's row) references that row, so it takes a share
    lock on it: a write that got there first is seen (BucketNotEmpty, or its upload
    aborted here), one that comes later waits for this transaction and then fails on
    the missing bucket (NoSuchBucket). The lock, the emptiness check and the uploads'
    removal run as service_role (the caller may not see other users' objects or
    uploads); the DELETE itself runs as the caller, so RLS decides, and when it refuses
    nothing at all has changed."""
    async with ctx.user() as conn:
        if not ctx.is_service:
            await run_as(conn, ctx.settings.db_service_role)
        found = await conn.fetchval("SELECT id FROM storage.buckets WHERE id = $1 FOR UPDATE", bucket_id)
        if found is None:
            raise errors.NoSuchBucket("Bucket not found")
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM storage.objects WHERE bucket_id = $1)", bucket_id):
            raise errors.BucketNotEmpty()
        uploads = await conn.fetch(
            "DELETE FROM storage.s3_multipart_uploads WHERE bucket_id = $1 RETURNING id, key, version", bucket_id
        )
        if not ctx.is_service:
            await run_as(conn, ctx.principal.role)
        deleted = await conn.fetchval("DELETE FROM storage.buckets WHERE id = $1 RETURNING id", bucket_id)
        if deleted is None:
            raise errors.NoSuchBucket("Bucket not found")
    await _abort_backend_uploads(ctx, bucket_id, uploads)


async def _abort_backend_uploads(ctx: Ctx, bucket_id: str, uploads: list[asyncpg.Record]) -> None:
    """Remove the parts of uploads whose rows are gone. Best effort: the rows are already
    consistent, and a part left behind is garbage the sweep finds."""
    for upload in uploads:
        data_key = ctx.store.data_key(bucket_id, upload["key"], upload["version"])
        try:
            await ctx.store.backend.abort_multipart(data_key, upload["id"])
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("could not abort the backend upload %s of %s/%s", upload["id"], bucket_id, upload["key"])


async def empty_bucket(ctx: Ctx, bucket_id: str) -> None:
    """Delete every object of the bucket, rows and bytes, in batches, and abort its
    unfinished multipart uploads."""
    bucket = await find_bucket_as_service(ctx, bucket_id)
    async with ctx.service() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM storage.objects WHERE bucket_id = $1 LIMIT $2) t",
            bucket.id,
            ctx.settings.empty_bucket_max + 1,
        )
    if count > ctx.settings.empty_bucket_max:
        raise errors.TooManyObjectsToEmpty()
    while True:
        async with ctx.service() as conn:
            rows = await conn.fetch(
                "DELETE FROM storage.objects WHERE id IN (SELECT id FROM storage.objects WHERE bucket_id = $1"
                " LIMIT 500) RETURNING name, version",
                bucket.id,
            )
        if not rows:
            break
        await ctx.store.backend.delete(
            [ctx.store.data_key(bucket.id, r["name"], r["version"]) for r in rows]
        )
    async with ctx.service() as conn:
        uploads = await conn.fetch(
            "DELETE FROM storage.s3_multipart_uploads WHERE bucket_id = $1 RETURNING id, key, version", bucket.id
        )
    await _abort_backend_uploads(ctx, bucket.id, uploads)
