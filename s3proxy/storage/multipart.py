"""S3 multipart uploads on the same store (tables s3_multipart_uploads / _parts).

An upload writes its parts through the backend's multipart interface at the data key
of a fresh version; completing it (storage/completion.py) assembles the parts there and
then switches the object's row to that version with `commit_version`, exactly as a
single upload does, so the consistency rule holds (bytes first, row second, old
version deleted last).

Each part row stores the ETag the client sees (MD5 of the part) and, when it differs,
the backend's own part ETag after a `|` (needed to complete upstream). The upload row's
`upload_signature` is an HMAC of (upload id, bytes so far) with the JWT secret, so a
row edited behind our back is refused rather than trusted for the size limit.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from s3proxy import errors
from s3proxy.auth.checksums import CRC_ALGORITHMS
from s3proxy.backends.base import PartInfo
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.conditions import Conditions
from s3proxy.storage.context import Ctx
from s3proxy.storage.limits import max_upload_size
from s3proxy.storage.listing import is_common_prefix, successor
from s3proxy.storage.metadata import upload_checksum, upload_json
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import WriteOptions, prepare_write, probe_write, read_object
from s3proxy.storage.streams import MeasuredBody, PlainBody, UploadBody

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
_UPLOAD_COLUMNS = "id, bucket_id, key, version, owner_id, created_at, in_progress_size, upload_signature, " \
                  "user_metadata, metadata"


@dataclass(frozen=True)
class Upload:
    id: str
    bucket_id: str
    key: str
    version: str
    owner_id: str | None
    created_at: datetime
    in_progress_size: int
    user_metadata: dict[str, Any] | None
    metadata: dict[str, Any]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Upload:
        return cls(row["id"], row["bucket_id"], row["key"], row["version"], row["owner_id"], row["created_at"],
                   int(row["in_progress_size"]), row["user_metadata"], row["metadata"] or {})

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, COMPOSITE | FULL_OBJECT) CreateMultipartUpload chose, if any."""
        return upload_checksum(self.metadata)


@dataclass(frozen=True)
class Part:
    number: int
    etag: str  # as the client sees it
    backend_etag: str
    size: int
    last_modified: datetime
    checksum: tuple[str, str] | None = None  # (algorithm, base64): the upload's algorithm, else a CRC sent


def _signature(ctx: Ctx, upload_id: str, size: int) -> str:
    return hmac.new(ctx.store.keys.secret, f"{upload_id}:{size}".encode(), hashlib.sha256).hexdigest()


def bare_etag(etag: str) -> str:
    return etag.strip().strip('"')


def part_from_row(row: asyncpg.Record) -> Part:
    """The etag column holds `client[|backend[|algorithm=base64]]`: the backend's own part
    ETag when it differs, and the part's checksum: of the upload's algorithm (sent or
    computed here), else a CRC the client sent (a FULL_OBJECT checksum claimed at
    completion is combined from those)."""
    client, _, rest = str(row["etag"]).partition("|")
    backend, _, crc = rest.partition("|")
    algorithm, _, value = crc.partition("=")
    checksum = (algorithm, value) if algorithm and value else None
    return Part(row["part_number"], client, backend or client, int(row["size"]), row["created_at"], checksum)


def _stored_etag(client: str, backend: str, checksums: Mapping[str, str], algorithm: str | None) -> str:
    kept = [f"{a}={v}" for a, v in checksums.items() if a == algorithm]
    kept += [f"{a}={v}" for a, v in checksums.items() if a in CRC_ALGORITHMS and algorithm is None]
    if kept:
        return f"{client}|{backend}|{kept[0]}"
    return client if bare_etag(backend) == bare_etag(client) else f"{client}|{backend}"


async def create_upload(ctx: Ctx, bucket_id: str, key: str, opts: WriteOptions, *,
                        checksum: tuple[str, str] | None = None) -> Upload:
    """Checks as for a write (RLS upsert probe, mime type), then starts the backend upload.
    `checksum` is the (algorithm, type) the parts and the completion will follow."""
    opts.standard_limit = False
    opts.upsert = True
    opts.size = None
    await prepare_write(ctx, bucket_id, key, opts)
    version = str(uuid.uuid4())
    data_key = ctx.store.data_key(bucket_id, key, version)
    upload_id = await ctx.store.backend.create_multipart(data_key, content_type=opts.describing.mimetype,
                                                         cache_control=opts.describing.cache_control)
    try:
        async with ctx.service() as conn:
            row = await conn.fetchrow(
                "INSERT INTO storage.s3_multipart_uploads (id, in_progress_size, upload_signature, bucket_id,"
                " key, version, owner_id, user_metadata, metadata) VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8)"
                f" RETURNING {_UPLOAD_COLUMNS}",
                upload_id, _signature(ctx, upload_id, 0), bucket_id, key, version, ctx.principal.sub,
                opts.user_metadata, upload_json(opts.describing, checksum),
            )
    except BaseException:
        await ctx.store.backend.abort_multipart(data_key, upload_id)
        raise
    return Upload.from_row(row)


async def get_upload(ctx: Ctx, bucket_id: str, key: str, upload_id: str) -> Upload:
    """The upload, if it exists for this bucket/key and belongs to the caller."""
    async with ctx.service() as conn:
        row = await conn.fetchrow(
            f"SELECT {_UPLOAD_COLUMNS} FROM storage.s3_multipart_uploads WHERE id = $1 AND bucket_id = $2"
            " AND key = $3", upload_id, bucket_id, key,
        )
    if row is None:
        await find_bucket_as_service(ctx, bucket_id)
        raise errors.NoSuchUpload()
    if not hmac.compare_digest(row["upload_signature"], _signature(ctx, upload_id, int(row["in_progress_size"]))):
        raise errors.NoSuchUpload()
    if not ctx.is_service and row["owner_id"] != ctx.principal.sub:
        raise errors.AccessDenied()
    return Upload.from_row(row)


def check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PARTS:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")


async def _store_part(ctx: Ctx, upload: Upload, number: int, body: UploadBody, size: int,
                      declared: frozenset[str] = frozenset()) -> Part:
    """Stream a part to the backend and record it. Under an upload that chose a checksum
    algorithm, the part's checksum of that algorithm is kept: the client's (verified
    while it streamed), or computed here when the client sent none."""
    bucket = await find_bucket_as_service(ctx, upload.bucket_id)
    limit = max_upload_size(bucket, ctx.settings, standard=False)
    if upload.in_progress_size + size > limit:
        raise errors.EntityTooLarge()
    algorithm = upload.checksum[0] if upload.checksum else None
    compute = (algorithm,) if algorithm is not None and algorithm not in declared else ()
    measured = MeasuredBody(body, limit=limit, expected_size=size, compute=compute)
    data_key = ctx.store.data_key(upload.bucket_id, upload.key, upload.version)
    info: PartInfo = await ctx.store.backend.upload_part(data_key, upload.id, number, measured, size=size)
    await measured.drain()
    stored = _stored_etag(measured.etag, info.etag, measured.checksums, algorithm)
    row = None
    async with ctx.service() as conn:
        total = await conn.fetchval(
            "SELECT in_progress_size FROM storage.s3_multipart_uploads WHERE id = $1 FOR UPDATE", upload.id)
        if total is not None:
            old = await conn.fetchval(
                "WITH d AS (DELETE FROM storage.s3_multipart_uploads_parts WHERE upload_id = $1"
                " AND part_number = $2 RETURNING size) SELECT coalesce(sum(size), 0) FROM d", upload.id, number)
            row = await conn.fetchrow(
                "INSERT INTO storage.s3_multipart_uploads_parts (upload_id, size, part_number, bucket_id, key,"
                " etag, owner_id, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING part_number, etag,"
                " size, created_at",
                upload.id, measured.size, number, upload.bucket_id, upload.key, stored, ctx.principal.sub,
                upload.version)
            new_total = int(total) - int(old) + measured.size
            await conn.execute(
                "UPDATE storage.s3_multipart_uploads SET in_progress_size = $2, upload_signature = $3"
                " WHERE id = $1", upload.id, new_total, _signature(ctx, upload.id, new_total))
    if row is None:
        # aborted, completed or its bucket deleted while the part streamed: that abort may
        # have run before this part landed (the file backend then recreated the upload's
        # folder), so abort once more, and say what became of the upload
        await ctx.store.backend.abort_multipart(data_key, upload.id)
        await find_bucket_as_service(ctx, upload.bucket_id)
        raise errors.NoSuchUpload()
    return part_from_row(row)


async def upload_part(ctx: Ctx, bucket_id: str, key: str, upload_id: str, number: int,
                      body: UploadBody, size: int | None, *, declared: frozenset[str] = frozenset()) -> Part:
    """`declared`: the checksum algorithms the request carries (headers or trailer); one
    other than the upload's algorithm is refused before a byte is read, as AWS does."""
    check_part_number(number)
    if size is None:
        raise errors.MissingContentLength()
    upload = await get_upload(ctx, bucket_id, key, upload_id)
    if upload.checksum is not None and declared and upload.checksum[0] not in declared:
        raise errors.InvalidRequest(f"Checksum Type mismatch occurred, expected checksum Type: "
                                    f"{upload.checksum[0]}, actual checksum Type: {sorted(declared)[0]}")
    await probe_write(ctx, bucket_id, key, upsert=True)
    return await _store_part(ctx, upload, number, body, size, declared)


async def upload_part_copy(ctx: Ctx, bucket_id: str, key: str, upload_id: str, number: int, src_bucket: str,
                           src_key: str, byte_range: tuple[int, int] | None, conditions: Conditions) -> Part:
    """Copy a range (inclusive; None = all) of an object the caller may read into a part."""
    check_part_number(number)
    upload = await get_upload(ctx, bucket_id, key, upload_id)
    await probe_write(ctx, bucket_id, key, upsert=True)

    def plan(source: ObjectInfo) -> tuple[int, int]:
        conditions.check(source.etag, source.last_modified, for_read=False)
        start, end = byte_range if byte_range is not None else (0, source.size - 1)
        if start < 0 or end >= source.size or start > end:
            raise errors.InvalidRange()
        return start, end

    _, chosen, stream = await read_object(ctx, src_bucket, src_key, mode="user", plan=plan)
    assert chosen is not None
    try:
        return await _store_part(ctx, upload, number, PlainBody(stream.chunks), chosen[1] - chosen[0] + 1)
    finally:
        await stream.aclose()


async def list_parts(ctx: Ctx, bucket_id: str, key: str, upload_id: str, *, marker: int,
                     max_parts: int) -> tuple[Upload, list[Part], bool]:
    upload = await get_upload(ctx, bucket_id, key, upload_id)
    async with ctx.service() as conn:
        rows = await conn.fetch(
            "SELECT part_number, etag, size, created_at FROM storage.s3_multipart_uploads_parts"
            " WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
            upload.id, marker, max_parts + 1)
    parts = [part_from_row(r) for r in rows]
    return upload, parts[:max_parts], len(parts) > max_parts


@dataclass
class UploadPage:
    """One page of ListMultipartUploads: uploads and common prefixes, which both count
    towards max-uploads; `next_key` / `next_upload_id` resume after the last entry."""

    uploads: list[Upload]
    common_prefixes: list[str]
    is_truncated: bool = False
    next_key: str | None = None
    next_upload_id: str | None = None


async def list_uploads(ctx: Ctx, bucket_id: str, *, prefix: str, delimiter: str | None, key_marker: str,
                       upload_id_marker: str, max_uploads: int) -> UploadPage:
    """Uploads in progress the caller may see (RLS SELECT), by key then upload id, with
    keys holding `delimiter` after the prefix rolled up into common prefixes (each is
    skipped with one query, like object listings)."""
    await find_bucket_as_service(ctx, bucket_id)
    entries: list[Upload | str] = []
    after: tuple[str, str] | None = None  # (key, upload id) already passed
    from_key: str | None = None  # or: every key >= this is still to come
    if key_marker and delimiter and is_common_prefix(key_marker, prefix, delimiter):
        from_key = successor(key_marker)
        if from_key is None:
            return UploadPage([], [])
    elif key_marker:
        after = (key_marker, upload_id_marker)
    async with ctx.user() as conn:
        while len(entries) <= max_uploads:
            limit = max_uploads + 1 - len(entries)
            args: list[Any] = [bucket_id, prefix, limit]
            where = "bucket_id = $1 AND starts_with(key, $2)"
            if after is not None:
                args += list(after)
                where += " AND (key COLLATE \"C\" > $4 OR (key = $4 AND $5 <> '' AND id > $5))"
            elif from_key is not None:
                args.append(from_key)
                where += " AND key COLLATE \"C\" >= $4"
            rows = await conn.fetch(f"SELECT {_UPLOAD_COLUMNS} FROM storage.s3_multipart_uploads WHERE {where}"
                                    " ORDER BY key COLLATE \"C\", id LIMIT $3", *args)
            for row in rows:
                upload = Upload.from_row(row)
                cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
                if delimiter and cut >= 0:  # a common prefix: the next query starts past it
                    common = upload.key[:cut + len(delimiter)]
                    entries.append(common)
                    after, from_key = None, successor(common)
                    break
                entries.append(upload)
                after = (upload.key, upload.id)
            else:  # no common prefix in this batch
                if len(rows) < limit:
                    break
                continue
            if from_key is None:  # nothing sorts after that common prefix
                break
    page = UploadPage([e for e in entries[:max_uploads] if isinstance(e, Upload)],
                      [e for e in entries[:max_uploads] if isinstance(e, str)],
                      is_truncated=len(entries) > max_uploads)
    if page.is_truncated and max_uploads > 0:
        last = entries[max_uploads - 1]
        page.next_key, page.next_upload_id = (last, None) if isinstance(last, str) else (last.key, last.id)
    return page


async def abort_upload(ctx: Ctx, bucket_id: str, key: str, upload_id: str) -> None:
    upload = await get_upload(ctx, bucket_id, key, upload_id)
    async with ctx.service() as conn:
        await conn.execute("DELETE FROM storage.s3_multipart_uploads WHERE id = $1", upload.id)
    await ctx.store.backend.abort_multipart(ctx.store.data_key(bucket_id, key, upload.version), upload.id)
