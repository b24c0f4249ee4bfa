"""TUS 1.0.0 resumable uploads (reference §2.5), without the wire: create, status,
append, terminate, and the sweep of abandoned uploads.

An upload is authorised exactly as a REST upload of the same object: the bucket must
exist, its size limit (TUS: min(bucket limit or global, global), not the "standard"
one) and MIME rules apply, and the RLS insert/upsert probe runs as the caller on every
request that adds or removes bytes, before a byte is accepted. No `storage.objects` row
exists until the last byte is in; then the object is written at the upload's own
version key and committed like every write (versions.py), in the same transaction that
marks the upload complete (migration 0006), so a completed upload is atomic.

State lives in Postgres (tus_state.py) and in the backend (tus_pieces.py), never in a
process, so any worker of any node can take an upload's next request; one request at a
time holds its lease, the others get ResourceLocked (423).

Expiry: an upload idle for TUS_URL_EXPIRY_MS answers UploadExpired (410);
`sweep_tus_uploads`, run by `s3proxy sweep`, deletes it with its parts and segments.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from s3proxy import errors
from s3proxy.config import Settings
from s3proxy.storage import tus_state
from s3proxy.storage.buckets import Bucket, find_bucket_as_service
from s3proxy.storage.context import Ctx
from s3proxy.storage.limits import check_mime_type, validate_key
from s3proxy.storage.metadata import Describing, ObjectMetadata, Parts
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import probe_write
from s3proxy.storage.streams import UploadBody
from s3proxy.storage.tus_pieces import Cutter, PieceWriter, segment_key
from s3proxy.storage.tus_state import Lease, TusUpload
from s3proxy.storage.versions import NewVersion, advisory_key, delete_versions

TOO_LARGE = "Maximum size exceeded"


@dataclass(frozen=True)
class UploadRef:
    """An upload as its URL names it."""

    bucket_id: str
    name: str
    upload_id: str


@dataclass(frozen=True)
class NewUpload:
    bucket_id: str
    name: str
    length: int | None  # None: deferred (Upload-Defer-Length)
    upsert: bool
    describing: Describing
    user_metadata: dict[str, Any] | None = None
    tus_metadata: str | None = None  # the Upload-Metadata header, echoed by HEAD


@dataclass(frozen=True)
class Status:
    """What a TUS response reports about an upload."""

    ref: UploadRef
    offset: int
    length: int | None
    completed: bool
    expires_at: datetime | None
    tus_metadata: str | None = None
    info: ObjectInfo | None = None  # the object, when this request completed it


def upload_limit(bucket: Bucket, settings: Settings) -> int:
    """Reference §10: min(bucket limit or global, global); a bucket limit of 0 means none here."""
    return min(bucket.file_size_limit or settings.upload_file_size_limit, settings.upload_file_size_limit)


def expiry(settings: Settings) -> timedelta:
    return timedelta(milliseconds=settings.tus_url_expiry_ms)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


# --- the operations ----------------------------------------------------------------------


async def create_upload(ctx: Ctx, new: NewUpload, body: UploadBody | None, declared: int | None) -> Status:
    """Creation (and creation-with-upload when `body` has bytes)."""
    validate_key(new.name)
    bucket = await find_bucket_as_service(ctx, new.bucket_id)
    limit = upload_limit(bucket, ctx.settings)
    if new.length is not None and new.length > limit:
        raise errors.EntityTooLarge(TOO_LARGE)
    check_mime_type(bucket, new.describing.mimetype)
    # as every caller (service_role too): the probe also finds an existing key when not upserting
    await probe_write(ctx, new.bucket_id, new.name, upsert=new.upsert, mimetype=new.describing.mimetype,
                      size=new.length, user_metadata=new.user_metadata)
    upload_id, token = str(uuid.uuid4()), uuid.uuid4()
    upload = await tus_state.insert_upload(
        ctx, upload_id, new.bucket_id, new.name, upsert=new.upsert, length=new.length, describing=new.describing,
        user_metadata=new.user_metadata, tus_metadata=new.tus_metadata, lease=token)
    async with Lease(ctx, upload_id, held=token) as lease:
        return await _append(ctx, lease, upload, [], limit, body, declared)


async def upload_status(ctx: Ctx, ref: UploadRef) -> Status:
    """HEAD: the committed offset (the length, once complete)."""
    upload = await _find(ctx, ref)
    return _status(ctx, ref, upload)


async def append(ctx: Ctx, ref: UploadRef, offset: int, body: UploadBody, declared: int | None,
                 new_length: int | None) -> Status:
    """PATCH: add `body` at `offset`, which must be the committed offset; `new_length`
    sets a deferred length. Completes the upload when the last byte is in."""
    upload = await _find(ctx, ref)
    if upload.completed:
        if offset == upload.length and declared == 0:
            return _status(ctx, ref, upload)
        raise errors.ConflictingOperation("Upload-Offset conflict")
    if new_length is not None and upload.length is not None and new_length != upload.length:
        raise errors.InvalidRequest("Upload-Length cannot be changed")
    bucket = await find_bucket_as_service(ctx, upload.bucket_id)
    limit = upload_limit(bucket, ctx.settings)
    length = upload.length if upload.length is not None else new_length
    if length is not None and length > limit:
        raise errors.EntityTooLarge(TOO_LARGE)
    if not ctx.is_service:
        await probe_write(ctx, upload.bucket_id, upload.name, upsert=upload.upsert,
                          mimetype=upload.describing.mimetype, size=length, user_metadata=upload.user_metadata)
    lease = Lease(ctx, upload.id)
    upload = await lease.acquire()
    async with lease:
        if upload.offset != offset:
            raise errors.ConflictingOperation("Upload-Offset conflict")
        if new_length is not None and upload.length is None:
            if new_length < offset + (declared or 0):
                raise errors.InvalidRequest("Upload-Length is smaller than the upload")
            await lease.set_length(new_length)
            upload = replace(upload, length=new_length)
        segments = [p for p in await tus_state.pieces(ctx, upload.id) if p.segment is not None]
        return await _append(ctx, lease, upload, segments, limit, body, declared)


async def terminate(ctx: Ctx, ref: UploadRef) -> None:
    """DELETE: drop the upload with everything it stored; a finished one stays."""
    upload = await _find(ctx, ref)
    if upload.completed:
        raise errors.InvalidRequest("Cannot terminate an already completed upload")
    if not ctx.is_service:
        await probe_write(ctx, upload.bucket_id, upload.name, upsert=upload.upsert,
                          mimetype=upload.describing.mimetype, size=upload.length)
    lease = Lease(ctx, upload.id)
    upload = await lease.acquire()
    async with lease:
        await _discard(ctx, upload)
        await lease.delete()


@dataclass(frozen=True)
class TusSweep:
    """What `sweep_tus_uploads` removed (or, in a dry run, would remove)."""

    expired: int  # unfinished uploads, with their parts and segments
    completed: int  # rows kept after completion so a late HEAD still answers


async def sweep_tus_uploads(ctx: Ctx, older_than: timedelta, dry_run: bool) -> TusSweep:
    """Remove uploads idle longer than `older_than`, and never sooner than they expire
    (TUS_URL_EXPIRY_MS), so a sweep cannot break an upload its client may still resume.
    Unfinished ones lose their backend multipart upload and segments; an upload whose
    lease is live (a request is writing it) is left alone. `ctx` is a service context."""
    idle = max(older_than, expiry(ctx.settings))
    if dry_run:
        return TusSweep(await tus_state.count_stale(ctx, idle, completed=False),
                        await tus_state.count_stale(ctx, idle, completed=True))
    expired = completed = 0
    seen: set[str] = set()
    while batch := [u for u in await tus_state.stale_uploads(ctx, idle, completed=False) if u.id not in seen]:
        for upload in batch:
            seen.add(upload.id)
            lease = Lease(ctx, upload.id)
            try:
                upload = await lease.acquire()
            except errors.ResourceLocked:
                continue
            async with lease:
                await _discard(ctx, upload)
                await lease.delete()
            expired += 1
    while batch := [u for u in await tus_state.stale_uploads(ctx, idle, completed=True) if u.id not in seen]:
        for upload in batch:
            seen.add(upload.id)
            completed += await tus_state.delete_completed(ctx, upload.id)
    return TusSweep(expired, completed)


# --- inside -----------------------------------------------------------------------------


async def _find(ctx: Ctx, ref: UploadRef) -> TusUpload:
    """The upload the URL names, if the caller may touch it and it has not expired."""
    upload = await tus_state.find_upload(ctx, ref.upload_id)
    if upload is None or (upload.bucket_id, upload.name) != (ref.bucket_id, ref.name):
        raise errors.NoSuchUpload("Upload not found")
    if not ctx.is_service and upload.owner_id != ctx.principal.sub:
        raise errors.AccessDenied("The upload belongs to someone else")
    if upload.expired(expiry(ctx.settings)):
        raise errors.UploadExpired()
    return upload


def _status(ctx: Ctx, ref: UploadRef, upload: TusUpload, *, offset: int | None = None,
            info: ObjectInfo | None = None) -> Status:
    completed = upload.completed or info is not None
    if offset is not None:  # just written: the expiry runs from now
        expires = None if completed else datetime.now(UTC) + expiry(ctx.settings)
    else:
        expires = None if completed else upload.expires_at(expiry(ctx.settings))
    return Status(ref, upload.offset if offset is None else offset, upload.length, completed, expires,
                  upload.tus_metadata, info)


async def _append(ctx: Ctx, lease: Lease, upload: TusUpload, segments: list[tus_state.Piece], limit: int,
                  body: UploadBody | None, declared: int | None) -> Status:
    room = (upload.length if upload.length is not None else limit) - upload.offset
    too_large = TOO_LARGE if upload.length is None else "The upload's size was exceeded"
    if declared is not None and declared > room:
        raise errors.EntityTooLarge(too_large)
    cutter = Cutter(body if body is not None else _empty(), room, too_large)
    writer = PieceWriter(ctx, lease, upload, segments, limit)
    tail = await writer.write(cutter, declared)
    ref = UploadRef(upload.bucket_id, upload.name, upload.id)
    if tail is None:
        return _status(ctx, ref, upload, offset=writer.offset)
    info = await _complete(ctx, lease, upload, writer, cutter, tail)
    return _status(ctx, ref, upload, offset=info.size, info=info)


async def _complete(ctx: Ctx, lease: Lease, upload: TusUpload, writer: PieceWriter, cutter: Cutter,
                    tail: tuple[AsyncIterable[bytes], int]) -> ObjectInfo:
    """The object's bytes at the upload's version key, then the row: one commit."""
    size = writer.offset + tail[1]
    try:
        async with NewVersion(ctx, upload.bucket_id, upload.name, upload.id) as version:
            etag, part_sizes = await writer.assemble(*tail)
            await cutter.finish()
            metadata = ObjectMetadata.new(etag, size, upload.describing, datetime.now(UTC),
                                          parts=Parts(sizes=tuple(part_sizes)))
            row = await ctx.lookup(
                "s3proxy_tus_commit", upload.id, lease.token, advisory_key(upload.bucket_id, upload.name),
                upload.bucket_id, upload.name, ctx.principal.owner, ctx.principal.sub, metadata.to_json(),
                upload.user_metadata, upload.upsert, size, as_service=True,
                columns="r.outcome, r.replaced, (r.obj).*")
            assert row is not None
            if row["outcome"] == "Locked":
                raise errors.ResourceLocked("The upload's lock was lost to another request")
            if row["outcome"] != "ok":  # KeyAlreadyExists: created meanwhile, and no upsert
                raise errors.KeyAlreadyExists()
            version.committed = True
    except errors.KeyAlreadyExists:
        await _discard(ctx, upload, writer.backend_upload)  # its bytes were assembled and dropped
        await lease.delete()
        raise
    await delete_versions(ctx, upload.bucket_id, upload.name, [row["replaced"]])
    await _delete_segments(ctx, upload.id)
    return ObjectInfo.from_row(row)


async def _discard(ctx: Ctx, upload: TusUpload, backend_upload: str | None = None) -> None:
    """Delete what an unfinished upload stored: its backend multipart upload and every
    segment number it ever handed out (those of failed requests included)."""
    backend = ctx.store.backend
    backend_upload = backend_upload or upload.backend_upload
    if backend_upload is not None:
        await backend.abort_multipart(ctx.store.data_key(upload.bucket_id, upload.name, upload.id), backend_upload)
    await _delete_segments(ctx, upload.id)


async def _delete_segments(ctx: Ctx, upload_id: str) -> None:
    """Every segment number the upload handed out: the ones of requests that failed
    before committing theirs included (numbers are never reused, so none is live
    once the upload is complete or being discarded)."""
    current = await tus_state.find_upload(ctx, upload_id)
    keys = [segment_key(ctx, upload_id, n) for n in range(1, (current.next_segment if current else 0) + 1)]
    for i in range(0, len(keys), 1000):
        await ctx.store.backend.delete(keys[i: i + 1000])
