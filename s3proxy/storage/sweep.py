"""`s3proxy sweep`: what kills and outages leave behind, found and removed.

The write protocol (versions.py) never leaves a row without bytes, but it may leave
bytes without a row: a version whose commit never came (a killed worker, an outage
between the upload and the commit), a superseded version whose delete failed, a
multipart upload nobody completed or aborted, a temporary file of a write killed
midway. Each kind is one function here, `(ctx, older_than, dry_run) -> Swept`, listed
in KINDS in the order they run (uploads first: an abandoned upload's assembled
version is then an orphan the version sweep finds in the same run).

Only what is older than `older_than` is touched. Bytes appear at a data key only once
their write is complete, and the commit follows within milliseconds; an upload or a
temporary file changes as long as it is in use. So a grace period of minutes already
keeps every write in flight safe; the command's default is a day.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from s3proxy.backends.base import PendingUpload, StoredBlob
from s3proxy.storage.completion import sweep_completed_uploads
from s3proxy.storage.context import Ctx
from s3proxy.storage.tus import sweep_tus_uploads

BATCH = 500  # listed items checked against Postgres per query


@dataclass
class Swept:
    """What one kind of sweep found (older than the grace period) and removed."""

    kind: str
    found: int = 0
    removed: int = 0
    bytes: int = 0  # of what was found, where the store says
    kept: int = 0  # listed but left alone: names that cannot be mapped back to a data key


SweepFunction = Callable[[Ctx, timedelta, bool], Awaitable[Swept]]


def _cutoff(older_than: timedelta) -> datetime:
    return datetime.now(UTC) - older_than


async def sweep_abandoned_uploads(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """S3 multipart uploads (rows of storage.s3_multipart_uploads) started before the
    cutoff: the backend's upload is aborted, then the row (and its parts) deleted."""
    swept = Swept("abandoned multipart uploads")
    async with ctx.service() as conn:
        rows = await conn.fetch(
            "SELECT id, bucket_id, key, version, in_progress_size FROM storage.s3_multipart_uploads"
            " WHERE created_at < $1 ORDER BY created_at", _cutoff(older_than))
    for row in rows:
        swept.found += 1
        swept.bytes += int(row["in_progress_size"])
        if dry_run:
            continue
        await ctx.store.backend.abort_multipart(ctx.store.data_key(row["bucket_id"], row["key"], row["version"]),
                                                row["id"])
        async with ctx.service() as conn:
            await conn.execute("DELETE FROM storage.s3_multipart_uploads WHERE id = $1", row["id"])
        swept.removed += 1
    return swept


async def _known_upload_ids(ctx: Ctx, ids: list[str]) -> set[str]:
    """The upload ids some row still stands for (a new kind of upload table joins here)."""
    async with ctx.service() as conn:
        rows = await conn.fetch(
            "SELECT id FROM storage.s3_multipart_uploads WHERE id = ANY($1::text[])"
            " UNION SELECT backend_upload FROM storage.s3proxy_tus_uploads WHERE backend_upload = ANY($1::text[])",
            ids)
    return {row["id"] for row in rows}


async def sweep_unknown_uploads(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """Multipart uploads the backend holds open that no row knows, started (file
    backend: last changed) before the cutoff: those of a worker killed between the
    backend's CreateMultipartUpload and the row, and the backend's own uploads for
    bodies of unknown length whose process died."""
    swept = Swept("backend uploads without a row")
    cutoff = _cutoff(older_than)
    batch: list[PendingUpload] = []

    async def check() -> None:
        known = await _known_upload_ids(ctx, [u.upload_id for u in batch])
        for upload in batch:
            if upload.upload_id in known:
                continue
            swept.found += 1
            if not dry_run:
                await ctx.store.backend.abort_multipart(upload.key or "", upload.upload_id)
                swept.removed += 1
        batch.clear()

    async for upload in ctx.store.backend.list_uploads(f"{ctx.settings.tenant_id}/"):
        if upload.started < cutoff:
            batch.append(upload)
            if len(batch) >= BATCH:
                await check()
    if batch:
        await check()
    return swept


def _split(ctx: Ctx, key: str) -> tuple[str, str | None, str | None, str] | None:
    """A data key `{tenant}/{bucket}/{name}/{version}` as (bucket, name, version, name
    and version joined): the last segment may also be part of an unversioned name."""
    tenant = ctx.settings.tenant_id + "/"
    if not key.startswith(tenant):
        return None
    bucket, _, rest = key[len(tenant):].partition("/")
    if not bucket or not rest:
        return None
    name, slash, version = rest.rpartition("/")
    return (bucket, name, version, rest) if slash else (bucket, None, None, rest)


# A name too long (or odd) for the upstream is stored as `.long/{sha256 of the name}` (see
# Storage.data_key): such blobs are matched by their version, which is a random UUID.
_REFERENCED = """
SELECT k.i FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(b, n, v, whole, i)
WHERE EXISTS (SELECT 1 FROM storage.objects o WHERE o.bucket_id = k.b AND o.name = k.n AND o.version = k.v)
   OR EXISTS (SELECT 1 FROM storage.objects o WHERE o.bucket_id = k.b AND o.name = k.whole AND o.version IS NULL)
   OR EXISTS (SELECT 1 FROM storage.s3_multipart_uploads u
              WHERE u.bucket_id = k.b AND u.key = k.n AND u.version = k.v)
   OR (starts_with(k.n, '.long/')
       AND (EXISTS (SELECT 1 FROM storage.objects o WHERE o.bucket_id = k.b AND o.version = k.v)
            OR EXISTS (SELECT 1 FROM storage.s3_multipart_uploads u WHERE u.bucket_id = k.b AND u.version = k.v)))
"""


async def _unreferenced(ctx: Ctx, blobs: list[tuple[StoredBlob, tuple[str, str | None, str | None, str]]]
                        ) -> list[StoredBlob]:
    """The blobs no object row (versioned, or unversioned as a Node server writes them)
    and no multipart upload points at."""
    parts = [p for _, p in blobs]
    async with ctx.service() as conn:
        rows = await conn.fetch(_REFERENCED, [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts],
                                [p[3] for p in parts])
    referenced = {row["i"] for row in rows}
    return [blob for i, (blob, _) in enumerate(blobs, start=1) if i not in referenced]


async def sweep_orphan_versions(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """Blobs under `{tenant}/` older than the cutoff that no row points at."""
    swept = Swept("orphaned version blobs")
    cutoff = _cutoff(older_than)
    batch: list[tuple[StoredBlob, tuple[str, str | None, str | None, str]]] = []

    async def check() -> None:
        orphans = await _unreferenced(ctx, batch)
        swept.found += len(orphans)
        swept.bytes += sum(b.size for b in orphans)
        if orphans and not dry_run:
            await ctx.store.backend.delete_stored(orphans)
            swept.removed += len(orphans)
        batch.clear()

    async for blob in ctx.store.backend.list_blobs(f"{ctx.settings.tenant_id}/"):
        if blob.modified >= cutoff:
            continue
        parts = _split(ctx, blob.key) if blob.key is not None else None
        if parts is None:
            swept.kept += 1
            continue
        batch.append((blob, parts))
        if len(batch) >= BATCH:
            await check()
    if batch:
        await check()
    return swept


async def sweep_temporary_files(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """The backend's temporary files not written to since the cutoff (file backend:
    `.tmp/`, left by a worker killed mid-write)."""
    swept = Swept("temporary files")
    cutoff = _cutoff(older_than)
    stale = [blob async for blob in ctx.store.backend.list_scratch() if blob.modified < cutoff]
    swept.found, swept.bytes = len(stale), sum(b.size for b in stale)
    if stale and not dry_run:
        await ctx.store.backend.delete_stored(stale)
        swept.removed = len(stale)
    return swept


async def sweep_resumable_uploads(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """TUS uploads idle past their expiry: unfinished ones with their parts and segments,
    finished ones' rows (storage/tus.py)."""
    result = await sweep_tus_uploads(ctx, older_than, dry_run)
    found = result.expired + result.completed
    return Swept("resumable uploads", found=found, removed=0 if dry_run else found)


async def sweep_completion_records(ctx: Ctx, older_than: timedelta, dry_run: bool) -> Swept:
    """Records of completed multipart uploads, kept so a retried Complete gets its answer
    again (storage/completion.py), once past their retention."""
    found = await sweep_completed_uploads(ctx, older_than, dry_run=dry_run)
    return Swept("multipart completion records", found=found, removed=0 if dry_run else found)


KINDS: list[SweepFunction] = [
    sweep_resumable_uploads,
    sweep_completion_records,
    sweep_abandoned_uploads,
    sweep_unknown_uploads,
    sweep_orphan_versions,
    sweep_temporary_files,
]


async def sweep(ctx: Ctx, older_than: timedelta, dry_run: bool,
                kinds: list[SweepFunction] | None = None) -> list[Swept]:
    """Every kind in turn; returns what each found and removed."""
    return [await kind(ctx, older_than, dry_run) for kind in (KINDS if kinds is None else kinds)]
