"""Object operations shared by both protocols: find, read, write, delete, copy, move.

Every write follows the version protocol of `versions.py` (bytes to a fresh version,
then the row, then the old bytes), and every read that races a write retries with the
new row, so a reader sees the old object or the new one, never "missing".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from s3proxy import errors
from s3proxy.backends.base import ObjectStream
from s3proxy.storage import metadata as meta
from s3proxy.storage.buckets import Bucket, find_bucket_as_service
from s3proxy.storage.conditions import Conditions
from s3proxy.storage.context import Ctx
from s3proxy.storage.limits import EMPTY_FOLDER, check_mime_type, max_upload_size, validate_key
from s3proxy.storage.metadata import Describing, ObjectMetadata
from s3proxy.storage.objectinfo import OBJECT_COLUMNS, ObjectInfo
from s3proxy.storage.streams import MeasuredBody, UploadBody
from s3proxy.storage.versions import (
    NewVersion,
    VersionChanged,
    commit_move,
    commit_version,
    delete_versions,
)

log = logging.getLogger("s3proxy.storage")

# who may read: "user" = RLS as the caller; "public" = the bucket must be public;
# "auto" = public buckets for anyone, RLS otherwise (GET /object/:bucket/*);
# "service" = already authorised elsewhere (signed URL)
ReadMode = Literal["user", "public", "auto", "service"]

# a copy or move that lost its source's bytes to a concurrent overwrite tries again
# with the new row this many times in all; a read, which is cheap to retry and must
# never answer "missing" for a key that exists, more often (under a burst of writers
# to one key a read can lose several races in a row)
ATTEMPTS = 3
READ_ATTEMPTS = 10


# --- finding and reading ---------------------------------------------------------------


async def find_object(ctx: Ctx, bucket_id: str, name: str, *, mode: ReadMode = "user") -> ObjectInfo:
    """The object's row, as `mode` allows; NoSuchBucket / NoSuchKey otherwise.
    A row hidden by RLS is indistinguishable from a missing one."""
    validate_key(name)
    as_service = mode == "service"
    if mode in ("public", "auto"):
        bucket = await find_bucket_as_service(ctx, bucket_id)
        if mode == "public" and not bucket.public:
            raise errors.NoSuchBucket()
        if mode == "auto" and not bucket.public and not ctx.principal.authenticated:
            raise errors.NoSuchBucket()
        as_service = bucket.public
    row = await ctx.lookup("s3proxy_scoped_object", bucket_id, name, as_service=as_service)
    if row is None:
        raise errors.NoSuchKey()
    return ObjectInfo.from_row(row)


async def open_object(ctx: Ctx, info: ObjectInfo, byte_range: tuple[int, int] | None = None) -> ObjectStream:
    """Start streaming the object's bytes (all, or the inclusive range)."""
    key = ctx.store.data_key(info.bucket_id, info.name, info.version)
    if byte_range is None:
        return await ctx.store.backend.get(key)
    return await ctx.store.backend.get(key, start=byte_range[0], end=byte_range[1])


Plan = Callable[[ObjectInfo], tuple[int, int] | None]


async def read_object(ctx: Ctx, bucket_id: str, name: str, *, mode: ReadMode,
                      plan: Plan) -> tuple[ObjectInfo, tuple[int, int] | None, ObjectStream]:
    """Find the object, let `plan` check it (conditions) and choose the byte range (None
    for all), and open it. When an overwrite deleted the bytes between the lookup and
    the open, the new row is read and planned again; MissingBytes when the row's own
    bytes are gone."""
    previous: str | None = None
    for attempt in range(READ_ATTEMPTS):
        info = await find_object(ctx, bucket_id, name, mode=mode)
        if attempt and info.version == previous:
            break
        byte_range = plan(info)
        try:
            return info, byte_range, await open_object(ctx, info, byte_range)
        except errors.NoSuchKey:
            previous = info.version
    raise errors.MissingBytes()


# --- writing ---------------------------------------------------------------------------


@dataclass
class WriteOptions:
    """What an upload says about the object it writes, and the rules it writes under."""

    describing: Describing = field(default_factory=Describing)
    user_metadata: dict[str, Any] | None = None
    size: int | None = None  # the declared length, when known
    upsert: bool = False
    if_none_match_star: bool = False  # S3 conditional create: fail if the key exists
    if_match: str | None = None  # S3 conditional overwrite: the current ETag must match
    standard_limit: bool = True  # UPLOAD_FILE_SIZE_LIMIT_STANDARD applies (not multipart/TUS)
    probe: bool = True  # run the RLS permission probe as the caller before writing


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


async def probe_write(ctx: Ctx, bucket_id: str, name: str, *, upsert: bool,
                      mimetype: str = meta.DEFAULT_MIMETYPE, size: int | None = None,
                      user_metadata: dict[str, Any] | None = None) -> None:
    """Reference §5.2 `testPermission`: do the INSERT (or upsert) as the caller and roll
    it back, so RLS answers "may this caller write this key?" before any byte moves."""
    probe = {meta.MIMETYPE: mimetype, meta.CONTENT_LENGTH: size}
    try:
        async with ctx.user(rollback=True) as conn:
            await conn.execute(_probe_sql(upsert), bucket_id, name, ctx.principal.owner,
                               ctx.principal.sub, probe, user_metadata)
    except errors.ResourceAlreadyExists as exc:
        raise errors.KeyAlreadyExists() from exc


async def prepare_write(ctx: Ctx, bucket_id: str, name: str, opts: WriteOptions) -> tuple[Bucket, int]:
    """The checks every write makes before any byte moves; returns the bucket and the size limit."""
    validate_key(name)
    bucket = await find_bucket_as_service(ctx, bucket_id)
    limit = max_upload_size(bucket, ctx.settings, standard=opts.standard_limit)
    if name.endswith(EMPTY_FOLDER):
        limit = 0
    else:
        check_mime_type(bucket, opts.describing.mimetype)
    if opts.size is not None and opts.size > limit:
        raise errors.EntityTooLarge()
    # service_role bypasses RLS, so its probe could only find a conflicting key, which the
    # commit finds anyway; skipping it saves a transaction on every admin/S3-key write
    if opts.probe and not ctx.is_service:
        await probe_write(ctx, bucket_id, name, upsert=opts.upsert or opts.if_match is not None,
                          mimetype=opts.describing.mimetype, size=opts.size, user_metadata=opts.user_metadata)
    return bucket, limit


async def put_object(ctx: Ctx, bucket_id: str, name: str, body: UploadBody, opts: WriteOptions) -> ObjectInfo:
    """Stream `body` into a new version of bucket/name and make it current."""
    _, limit = await prepare_write(ctx, bucket_id, name, opts)
    backend = ctx.store.backend
    store_etag = backend.etag_from_put(opts.size)
    measured = MeasuredBody(body, limit=limit, expected_size=opts.size, md5=not store_etag)
    async with NewVersion(ctx, bucket_id, name) as version:
        etag = await backend.put(version.key, measured, size=opts.size, content_type=opts.describing.mimetype,
                                 cache_control=opts.describing.cache_control)
        await measured.drain()  # verified to the end before anything is committed
        if not store_etag:
            etag = measured.etag
        elif etag is None:
            raise errors.InternalError("The storage backend returned no ETag")
        metadata = ObjectMetadata.new(etag, measured.size, opts.describing, datetime.now(UTC),
                                      checksums=measured.checksums)
        info, replaced = await commit_version(ctx, version, metadata, opts.user_metadata, upsert=opts.upsert,
                                              if_match=opts.if_match, if_none_match_star=opts.if_none_match_star)
    await delete_versions(ctx, bucket_id, name, [replaced])
    return info


# --- deleting --------------------------------------------------------------------------


async def delete_object(ctx: Ctx, bucket_id: str, name: str) -> ObjectInfo:
    """Delete as the caller. NoSuchKey when there is nothing the caller can see;
    AccessDenied only when the caller can see the object but RLS refuses the delete,
    so a delete reveals no more about existence than a read does."""
    for _ in range(2):  # a row inserted just after our DELETE looked: try once more
        async with ctx.user() as conn:
            row = await conn.fetchrow(
                f"DELETE FROM storage.objects WHERE bucket_id = $1 AND name = $2 RETURNING {OBJECT_COLUMNS}",
                bucket_id, name,
            )
            visible = row is None and not ctx.is_service and await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM storage.objects WHERE bucket_id = $1 AND name = $2)", bucket_id, name,
            )
        if row is not None:
            info = ObjectInfo.from_row(row)
            await delete_versions(ctx, bucket_id, name, [info.version])
            return info
        if not visible:
            raise errors.NoSuchKey()
    raise errors.AccessDenied()


async def delete_objects(ctx: Ctx, bucket_id: str, names: list[str]) -> tuple[list[ObjectInfo], list[str]]:
    """Delete many exact names as the caller. Returns (deleted rows, names the caller can
    see but RLS refused to delete); names that do not exist are in neither."""
    deleted: list[ObjectInfo] = []
    refused: list[str] = []
    for i in range(0, len(names), 500):
        batch = names[i : i + 500]
        async with ctx.user() as conn:
            rows = await conn.fetch(
                f"DELETE FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2::text[])"
                f" RETURNING {OBJECT_COLUMNS}",
                bucket_id, batch,
            )
            gone = {r["name"] for r in rows}
            rest = [n for n in batch if n not in gone]
            if rest and not ctx.is_service:
                still = await conn.fetch(
                    "SELECT name FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2::text[])",
                    bucket_id, rest,
                )
                refused.extend(r["name"] for r in still)
        infos = [ObjectInfo.from_row(r) for r in rows]
        deleted.extend(infos)
        keys = [ctx.store.data_key(bucket_id, i.name, i.version) for i in infos]
        if keys:
            try:
                await ctx.store.backend.delete(keys)
            except Exception:  # noqa: BLE001 - rows are gone; bytes are garbage now
                log.warning("could not delete %d object(s) from the backend", len(keys))
    return deleted, refused


# --- copy and move ---------------------------------------------------------------------


@dataclass
class CopyOptions:
    upsert: bool = True
    replace: bool = False  # the copy is described by the fields below, not by the source's description
    mimetype: str | None = None  # with replace: None keeps the source's
    cache_control: str | None = None  # with replace: None keeps the source's
    content_headers: Mapping[str, str] = field(default_factory=dict)  # with replace
    user_metadata: dict[str, Any] | None = None  # with replace
    tags: Mapping[str, str] | None | Literal["source"] = "source"  # S3's tagging directive
    source_conditions: Conditions = field(default_factory=Conditions)


def _copy_write(source: ObjectInfo, opts: CopyOptions) -> WriteOptions:
    """The destination's WriteOptions: the source's description or its replacement."""
    kept = source.meta.describing
    describing, user_metadata = kept, source.user_metadata
    if opts.replace:
        describing = Describing(mimetype=opts.mimetype or kept.mimetype,
                                cache_control=opts.cache_control or kept.cache_control,
                                content_headers=opts.content_headers)
        user_metadata = opts.user_metadata
    describing = describing.with_tags(kept.tags if opts.tags == "source" else opts.tags)
    return WriteOptions(describing=describing, user_metadata=user_metadata, upsert=opts.upsert, size=source.size)


async def copy_object(ctx: Ctx, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str,
                      opts: CopyOptions) -> ObjectInfo:
    """Server-side copy into a new version of the destination (RLS: SELECT the source,
    INSERT/UPSERT the destination)."""
    previous: str | None = None
    for attempt in range(ATTEMPTS):
        source = await find_object(ctx, src_bucket, src_name, mode="user")
        if attempt and source.version == previous:
            break
        opts.source_conditions.check(source.etag, source.last_modified, for_read=False)
        write = _copy_write(source, opts)
        await prepare_write(ctx, dst_bucket, dst_name, write)
        async with NewVersion(ctx, dst_bucket, dst_name) as version:
            try:
                await ctx.store.backend.copy(ctx.store.data_key(src_bucket, src_name, source.version), version.key)
            except errors.NoSuchKey:
                previous = source.version  # overwritten meanwhile: copy the new version
                continue
            kept = ObjectMetadata(source.etag, source.size) if opts.replace else source.meta
            metadata = ObjectMetadata.new(source.etag, source.size, write.describing, datetime.now(UTC),
                                          checksums=kept.checksums, parts=kept.parts, other=kept.other)
            info, replaced = await commit_version(ctx, version, metadata, write.user_metadata, upsert=opts.upsert)
        await delete_versions(ctx, dst_bucket, dst_name, [replaced])
        return info
    raise errors.MissingBytes()


async def move_object(ctx: Ctx, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str) -> ObjectInfo:
    """Rename (also across buckets), keeping the row's id; the destination must not
    exist. Only the version that was copied is moved: if the source is overwritten
    meanwhile the move starts over with the new version, and of two moves of one
    source exactly one succeeds (the other finds no source)."""
    validate_key(dst_name)
    refused = False
    for _ in range(ATTEMPTS):
        source = await find_object(ctx, src_bucket, src_name, mode="user")
        await find_bucket_as_service(ctx, dst_bucket)
        refused = not ctx.is_service and not await _may_move(ctx, source, dst_bucket, dst_name)
        if refused:  # RLS refuses, or the source moved away just now: look again
            continue
        if (src_bucket, src_name) == (dst_bucket, dst_name):
            return source
        async with NewVersion(ctx, dst_bucket, dst_name) as version:
            try:
                await ctx.store.backend.copy(ctx.store.data_key(src_bucket, src_name, source.version), version.key)
                info = await commit_move(ctx, source, version, source.meta)
            except (VersionChanged, errors.NoSuchKey) as exc:
                if isinstance(exc, errors.NoSuchKey):  # bytes gone: is the row gone too?
                    current = await find_object(ctx, src_bucket, src_name, mode="user")
                    if current.version == source.version:
                        raise errors.MissingBytes() from exc
                continue
        await delete_versions(ctx, src_bucket, src_name, [source.version])
        return info
    if refused:
        raise errors.AccessDenied("new row violates row-level security policy")
    raise errors.ConflictingOperation()


async def _may_move(ctx: Ctx, source: ObjectInfo, dst_bucket: str, dst_name: str) -> bool:
    """May the caller move this row there? The real UPDATE as the caller, rolled back:
    False when it reaches no row (RLS hides it from the UPDATE, or it is gone)."""
    try:
        async with ctx.user(rollback=True) as conn:
            row = await conn.fetchrow(
                "UPDATE storage.objects SET bucket_id = $3, name = $4, owner = $5, owner_id = $6"
                " WHERE bucket_id = $1 AND name = $2 RETURNING id",
                source.bucket_id, source.name, dst_bucket, dst_name, ctx.principal.owner, ctx.principal.sub,
            )
    except errors.ResourceAlreadyExists as exc:
        raise errors.KeyAlreadyExists() from exc
    return row is not None
