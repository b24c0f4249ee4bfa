"""Object operations shared by both protocols: write, find, read, delete, copy, move.

The consistency rule of every write (reference §8): bytes go to a fresh version key
first, then the row is switched to that version in one transaction under an advisory
lock on the object, then the old version's bytes are deleted. A failure before the
commit deletes the new version, so no row ever points at missing bytes and no
partial object is ever visible.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from s3proxy.backends.base import ObjectStream
from s3proxy.storage.buckets import Bucket, find_bucket_as_service
from s3proxy.storage.conditions import Conditions, etag_candidates
from s3proxy.storage.context import Ctx
from s3proxy.storage.errors import StorageError
from s3proxy.storage.limits import EMPTY_FOLDER, check_mime_type, max_upload_size, validate_key
from s3proxy.storage.streams import MeasuredBody
from s3proxy.timefmt import iso_millis

log = logging.getLogger("s3proxy.storage")

OBJECT_COLUMNS = (
    "id, bucket_id, name, owner, owner_id, version, metadata, user_metadata,"
    " created_at, updated_at, last_accessed_at"
)

# who may read: "user" = RLS as the caller; "public" = the bucket must be public;
# "auto" = public buckets for anyone, RLS otherwise (GET /object/:bucket/*);
# "service" = already authorised elsewhere (signed URL)
ReadMode = Literal["user", "public", "auto", "service"]


@dataclass(frozen=True)
class ObjectInfo:
    id: str
    bucket_id: str
    name: str
    owner: str | None
    owner_id: str | None
    version: str | None
    metadata: dict[str, Any]
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

    @property
    def size(self) -> int:
        return int(self.metadata.get("size") or self.metadata.get("contentLength") or 0)

    @property
    def etag(self) -> str:
        return str(self.metadata.get("eTag") or '""')

    @property
    def content_type(self) -> str:
        return str(self.metadata.get("mimetype") or "application/octet-stream")

    @property
    def cache_control(self) -> str:
        return str(self.metadata.get("cacheControl") or "no-cache")

    @property
    def last_modified(self) -> datetime:
        return self.updated_at or self.created_at or datetime.now(UTC)


@dataclass
class WriteOptions:
    """What an upload says about the object it writes."""

    content_type: str = "application/octet-stream"
    cache_control: str = "no-cache"
    user_metadata: dict[str, Any] | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)  # e.g. xRobotsTag, contentEncoding
    size: int | None = None  # the declared length, when known
    upsert: bool = False
    if_none_match_star: bool = False  # S3 conditional create: fail if the key exists
    if_match: str | None = None  # S3 conditional overwrite: the current ETag must match
    observers: list[Callable[[bytes], object]] = field(default_factory=list)  # checksums
    standard_limit: bool = True  # the UPLOAD_FILE_SIZE_LIMIT_STANDARD applies (not multipart/TUS)
    probe: bool = True  # run the RLS permission probe as the caller before writing


def system_metadata(etag: str, size: int, opts: WriteOptions, when: datetime) -> dict[str, Any]:
    """objects.metadata as Supabase writes it (reference §2.3)."""
    data: dict[str, Any] = {
        "eTag": etag,
        "size": size,
        "mimetype": opts.content_type,
        "cacheControl": opts.cache_control,
        "lastModified": iso_millis(when),
        "contentLength": size,
        "httpStatusCode": 200,
    }
    data.update(opts.extra_metadata)
    return data


# --- finding ------------------------------------------------------------------------


async def find_object(ctx: Ctx, bucket_id: str, name: str, *, mode: ReadMode = "user",
                      operation: str = "storage.object.get_authenticated") -> ObjectInfo:
    """The object's row, as `mode` allows; NoSuchBucket / NoSuchKey otherwise.
    A row hidden by RLS is indistinguishable from a missing one."""
    validate_key(name)
    as_service = mode == "service"
    if mode in ("public", "auto"):
        bucket = await find_bucket_as_service(ctx, bucket_id, operation)
        if mode == "public" and not bucket.public:
            raise StorageError("NoSuchBucket", "Bucket not found")
        if mode == "auto" and not bucket.public and not ctx.principal.authenticated:
            raise StorageError("NoSuchBucket", "Bucket not found")
        as_service = bucket.public
    row = await ctx.lookup(operation, "s3proxy_scoped_object", bucket_id, name, as_service=as_service)
    if row is None:
        raise StorageError("NoSuchKey", "Object not found")
    return ObjectInfo.from_row(row)


async def open_object(ctx: Ctx, info: ObjectInfo, byte_range: tuple[int, int] | None = None) -> ObjectStream:
    """Start streaming the object's bytes (all, or the inclusive range)."""
    key = ctx.store.data_key(info.bucket_id, info.name, info.version)
    if byte_range is None:
        return await ctx.store.backend.get(key)
    return await ctx.store.backend.get(key, start=byte_range[0], end=byte_range[1])


# --- writing ------------------------------------------------------------------------


def _probe_sql(upsert: bool) -> str:
    sql = (
        "INSERT INTO storage.objects (bucket_id, name, version, owner, owner_id, metadata, user_metadata)"
        " VALUES ($1, $2, '1', $3, $4, $5, $6)"
    )
    if upsert:
        sql += (
            " ON CONFLICT (name, bucket_id) DO UPDATE SET version = excluded.version,"
            " owner = excluded.owner, owner_id = excluded.owner_id, metadata = excluded.metadata,"
            " user_metadata = excluded.user_metadata"
        )
    return sql


async def probe_write(ctx: Ctx, bucket_id: str, name: str, *, upsert: bool, operation: str,
                      content_type: str = "application/octet-stream", size: int | None = None,
                      user_metadata: dict[str, Any] | None = None) -> None:
    """Reference §5.2 `testPermission`: do the INSERT (or upsert) as the caller and roll
    it back, so RLS answers "may this caller write this key?" before any byte moves."""
    metadata = {"mimetype": content_type, "contentLength": size}
    try:
        async with ctx.user(operation, rollback=True) as conn:
            await conn.execute(_probe_sql(upsert), bucket_id, name, ctx.principal.owner,
                               ctx.principal.sub, metadata, user_metadata)
    except StorageError as exc:
        if exc.code == "ResourceAlreadyExists":
            raise StorageError("KeyAlreadyExists", "The resource already exists") from exc
        raise


def _advisory_key(bucket_id: str, name: str) -> int:
    """Reference §5.2: djb2-xor over UTF-16 code units, as a signed 32-bit lock id."""
    h = 5381
    text = f"{bucket_id}/{name}".encode("utf-16-le")
    for i in range(0, len(text), 2):
        c = text[i] | (text[i + 1] << 8)
        h = ((h * 33) & 0xFFFFFFFF) ^ c
    return h - (1 << 32) if h >= 1 << 31 else h


async def commit_version(
    ctx: Ctx,
    bucket_id: str,
    name: str,
    version: str,
    metadata: dict[str, Any],
    user_metadata: dict[str, Any] | None,
    *,
    upsert: bool,
    operation: str,
    if_match: str | None = None,
    if_none_match_star: bool = False,
    object_id: str | None = None,
) -> tuple[ObjectInfo, str | None]:
    """Point the row at `version` under the key's lock, in one round trip (migration
    0004); returns the row and the version it replaced (whose bytes the caller deletes).
    `object_id` moves an existing row (keeps its id) instead of inserting."""
    if_match_etags = None if if_match is None else etag_candidates(if_match)
    row = await ctx.lookup(
        operation, "s3proxy_commit_version", _advisory_key(bucket_id, name), bucket_id, name, version,
        ctx.principal.owner, ctx.principal.sub, metadata, user_metadata, upsert, if_none_match_star,
        if_match_etags, object_id, as_service=True, columns="r.outcome, r.replaced, (r.obj).*",
    )
    assert row is not None  # the function always returns its one row
    if row["outcome"] != "ok":
        raise StorageError(row["outcome"], _COMMIT_REFUSALS[row["outcome"]])
    return ObjectInfo.from_row(row), row["replaced"]


_COMMIT_REFUSALS: dict[str, str | None] = {
    "PreconditionFailed": None,  # the table's message
    "KeyAlreadyExists": "The resource already exists",
    "NoSuchKey": "Object not found",
}


async def delete_versions(ctx: Ctx, bucket_id: str, name: str, versions: list[str | None]) -> None:
    """Best-effort removal of superseded bytes; a failure leaves garbage, never a broken row."""
    keys = [ctx.store.data_key(bucket_id, name, v) for v in versions if v is not None]
    if not keys:
        return
    try:
        await ctx.store.backend.delete(keys)
    except Exception:  # noqa: BLE001 - the row is already consistent
        log.warning("could not delete %d superseded version(s) of %s/%s", len(keys), bucket_id, name)


class NewVersion:
    """A fresh version of bucket/name to write bytes to. Used as `async with`: unless
    `committed` is set before the block ends, the bytes written there are deleted, so a
    failure anywhere between the first byte and the commit leaves nothing behind."""

    def __init__(self, ctx: Ctx, bucket_id: str, name: str, version: str | None = None) -> None:
        self.ctx, self.bucket_id, self.name = ctx, bucket_id, name
        self.id = version or str(uuid.uuid4())
        self.key = ctx.store.data_key(bucket_id, name, self.id)
        self.committed = False

    async def __aenter__(self) -> NewVersion:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.committed:
            await delete_versions(self.ctx, self.bucket_id, self.name, [self.id])


async def prepare_write(ctx: Ctx, bucket_id: str, name: str, opts: WriteOptions, *,
                        operation: str) -> tuple[Bucket, int]:
    """The checks every write makes before any byte moves; returns the bucket and the size limit."""
    validate_key(name)
    bucket = await find_bucket_as_service(ctx, bucket_id, operation)
    limit = max_upload_size(bucket, ctx.settings, standard=opts.standard_limit)
    if name.endswith(EMPTY_FOLDER):
        limit = 0
    else:
        check_mime_type(bucket, opts.content_type)
    if opts.size is not None and opts.size > limit:
        raise StorageError("EntityTooLarge", "The object exceeded the maximum allowed size")
    # service_role bypasses RLS, so its probe could only find a conflicting key, which the
    # commit finds anyway; skipping it saves a transaction on every admin/S3-key write
    if opts.probe and ctx.principal.role != ctx.settings.db_service_role:
        await probe_write(ctx, bucket_id, name, upsert=opts.upsert or opts.if_match is not None,
                          operation=operation, content_type=opts.content_type, size=opts.size,
                          user_metadata=opts.user_metadata)
    return bucket, limit


async def put_object(ctx: Ctx, bucket_id: str, name: str, body: AsyncIterator[bytes], opts: WriteOptions,
                     *, operation: str = "storage.object.upload") -> ObjectInfo:
    """Stream `body` into a new version of bucket/name and make it current."""
    _, limit = await prepare_write(ctx, bucket_id, name, opts, operation=operation)
    backend = ctx.store.backend
    store_etag = backend.etag_from_put(opts.size)
    measured = MeasuredBody(body, limit=limit, expected_size=opts.size, observers=opts.observers, md5=not store_etag)
    async with NewVersion(ctx, bucket_id, name) as version:
        etag = await backend.put(version.key, measured, size=opts.size, content_type=opts.content_type,
                                 cache_control=opts.cache_control)
        if not store_etag:
            etag = measured.etag
        elif etag is None:
            raise StorageError("InternalError", "The storage backend returned no ETag")
        metadata = system_metadata(etag, measured.size, opts, datetime.now(UTC))
        info, replaced = await commit_version(
            ctx, bucket_id, name, version.id, metadata, opts.user_metadata, upsert=opts.upsert,
            operation=operation, if_match=opts.if_match, if_none_match_star=opts.if_none_match_star,
        )
        version.committed = True
    await delete_versions(ctx, bucket_id, name, [replaced])
    return info


# --- deleting -----------------------------------------------------------------------


async def delete_object(ctx: Ctx, bucket_id: str, name: str, *,
                        operation: str = "storage.object.delete") -> ObjectInfo:
    """Delete as the caller; NoSuchKey if absent, AccessDenied if RLS refuses."""
    async with ctx.user(operation) as conn:
        row = await conn.fetchrow(
            f"DELETE FROM storage.objects WHERE bucket_id = $1 AND name = $2 RETURNING {OBJECT_COLUMNS}",
            bucket_id, name,
        )
    if row is None:
        async with ctx.service(operation) as conn:
            exists = await conn.fetchval(
                "SELECT 1 FROM storage.objects WHERE bucket_id = $1 AND name = $2", bucket_id, name
            )
        if exists:
            raise StorageError("AccessDenied", "Access denied")
        raise StorageError("NoSuchKey", "Object not found")
    info = ObjectInfo.from_row(row)
    await delete_versions(ctx, bucket_id, name, [info.version])
    return info


async def delete_objects(ctx: Ctx, bucket_id: str, names: list[str], *,
                         operation: str = "storage.object.delete_many") -> tuple[list[ObjectInfo], list[str]]:
    """Delete many exact names as the caller. Returns (deleted rows, names RLS refused);
    names that do not exist are in neither."""
    deleted: list[ObjectInfo] = []
    refused: list[str] = []
    for i in range(0, len(names), 500):
        batch = names[i : i + 500]
        async with ctx.user(operation) as conn:
            rows = await conn.fetch(
                f"DELETE FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2::text[])"
                f" RETURNING {OBJECT_COLUMNS}",
                bucket_id, batch,
            )
        infos = [ObjectInfo.from_row(r) for r in rows]
        deleted.extend(infos)
        gone = {i.name for i in infos}
        rest = [n for n in batch if n not in gone]
        if rest:
            async with ctx.service(operation) as conn:
                still = await conn.fetch(
                    "SELECT name FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2::text[])",
                    bucket_id, rest,
                )
            refused.extend(r["name"] for r in still)
        keys = [ctx.store.data_key(bucket_id, i.name, i.version) for i in infos]
        if keys:
            try:
                await ctx.store.backend.delete(keys)
            except Exception:  # noqa: BLE001 - rows are gone; bytes are garbage now
                log.warning("could not delete %d object(s) from the backend", len(keys))
    return deleted, refused


# --- copy and move ------------------------------------------------------------------


@dataclass
class CopyOptions:
    upsert: bool = True
    copy_metadata: bool = True  # False = REPLACE with the fields below
    content_type: str | None = None
    cache_control: str | None = None
    user_metadata: dict[str, Any] | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    source_conditions: Conditions = field(default_factory=Conditions)


async def copy_object(ctx: Ctx, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str,
                      opts: CopyOptions, *, operation: str = "storage.object.copy") -> ObjectInfo:
    """Server-side copy into a new version of the destination (RLS: SELECT the source,
    INSERT/UPSERT the destination)."""
    source = await find_object(ctx, src_bucket, src_name, mode="user", operation=operation)
    opts.source_conditions.check(source.etag, source.last_modified, for_read=False)
    if opts.copy_metadata:
        write = WriteOptions(content_type=source.content_type, cache_control=source.cache_control,
                             user_metadata=source.user_metadata, upsert=opts.upsert, size=source.size)
        write.extra_metadata = {k: v for k, v in source.metadata.items()
                                if k not in ("eTag", "size", "mimetype", "cacheControl", "lastModified",
                                             "contentLength", "httpStatusCode")}
        write.extra_metadata.update(opts.extra_metadata)  # the caller's overrides (S3 tagging REPLACE)
    else:
        write = WriteOptions(content_type=opts.content_type or source.content_type,
                             cache_control=opts.cache_control or source.cache_control,
                             user_metadata=opts.user_metadata, upsert=opts.upsert, size=source.size,
                             extra_metadata=dict(opts.extra_metadata))
    write.extra_metadata = {k: v for k, v in write.extra_metadata.items() if v is not None}  # None = drop
    await prepare_write(ctx, dst_bucket, dst_name, write, operation=operation)
    async with NewVersion(ctx, dst_bucket, dst_name) as version:
        await ctx.store.backend.copy(ctx.store.data_key(src_bucket, src_name, source.version), version.key)
        metadata = system_metadata(source.etag, source.size, write, datetime.now(UTC))
        info, replaced = await commit_version(ctx, dst_bucket, dst_name, version.id, metadata,
                                              write.user_metadata, upsert=opts.upsert, operation=operation)
        version.committed = True
    await delete_versions(ctx, dst_bucket, dst_name, [replaced])
    return info


async def move_object(ctx: Ctx, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str, *,
                      operation: str = "storage.object.move") -> ObjectInfo:
    """Rename (also across buckets), keeping the row's id; the destination must not exist."""
    validate_key(dst_name)
    source = await find_object(ctx, src_bucket, src_name, mode="user", operation=operation)
    await find_bucket_as_service(ctx, dst_bucket, operation)
    try:
        async with ctx.user(operation, rollback=True) as conn:
            row = await conn.fetchrow(
                "UPDATE storage.objects SET bucket_id = $3, name = $4, owner = $5, owner_id = $6"
                " WHERE bucket_id = $1 AND name = $2 RETURNING id",
                src_bucket, src_name, dst_bucket, dst_name, ctx.principal.owner, ctx.principal.sub,
            )
    except StorageError as exc:
        if exc.code == "ResourceAlreadyExists":
            raise StorageError("KeyAlreadyExists", "The resource already exists") from exc
        raise
    if row is None:
        raise StorageError("AccessDenied", "new row violates row-level security policy")
    if (src_bucket, src_name) == (dst_bucket, dst_name):
        return source
    async with NewVersion(ctx, dst_bucket, dst_name) as version:
        await ctx.store.backend.copy(ctx.store.data_key(src_bucket, src_name, source.version), version.key)
        try:
            info, _ = await commit_version(ctx, dst_bucket, dst_name, version.id, dict(source.metadata),
                                           source.user_metadata, upsert=False, operation=operation,
                                           object_id=source.id)
        except StorageError as exc:
            if exc.code == "ResourceAlreadyExists":
                raise StorageError("KeyAlreadyExists", "The resource already exists") from exc
            raise
        version.committed = True
    await delete_versions(ctx, src_bucket, src_name, [source.version])
    return info
