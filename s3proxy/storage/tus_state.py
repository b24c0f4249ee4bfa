"""The state of TUS uploads in Postgres (migration 0006), and the lease that lets one
request at a time write to an upload.

Why a lease and not a lock: a PATCH may stream for minutes, and holding a pooled
connection (for a session advisory lock) or a transaction (for a row lock) that long
would starve the pool. The lease is a row value with an expiry instead: taken in one
UPDATE that succeeds only when no other lease is live, renewed every few seconds while
the request runs (`Lease`), and released when it ends. A worker that crashes stops
renewing, so its lease lapses by itself after TUS_LEASE_SECONDS. Every write of the state
checks that the lease is still the caller's, so a request that lost its lease (stalled
past the expiry) can commit nothing; and since part and segment numbers are handed out
once each, what it wrote to the backend can never replace what another request
committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from s3proxy import errors
from s3proxy.storage.context import Ctx
from s3proxy.storage.metadata import Describing

log = logging.getLogger("s3proxy.storage")


_COLUMNS = ("id, bucket_id, name, owner_id, upsert, upload_length, upload_offset, metadata, user_metadata,"
            " tus_metadata, backend_upload, next_part, next_segment, updated_at, completed_at,"
            " lease IS NOT NULL AND lease_expires > now() AS leased, now() AS db_now")
_PIECE_COLUMNS = "start, size, part, segment, etag, md5"


@dataclass(frozen=True)
class TusUpload:
    """One upload as its row says, read at one moment."""

    id: str  # also the version of the object it becomes
    bucket_id: str
    name: str
    owner_id: str | None
    upsert: bool
    length: int | None  # None while deferred
    offset: int
    describing: Describing
    user_metadata: dict[str, Any] | None
    tus_metadata: str | None
    backend_upload: str | None
    next_part: int
    next_segment: int
    updated_at: datetime
    completed_at: datetime | None
    leased: bool
    db_now: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> TusUpload:
        return cls(row["id"], row["bucket_id"], row["name"], row["owner_id"], bool(row["upsert"]),
                   row["upload_length"], int(row["upload_offset"]), Describing.from_json(row["metadata"] or {}),
                   row["user_metadata"], row["tus_metadata"], row["backend_upload"], int(row["next_part"]),
                   int(row["next_segment"]), row["updated_at"], row["completed_at"], bool(row["leased"]),
                   row["db_now"])

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def expires_at(self, expiry: timedelta) -> datetime:
        return self.updated_at + expiry

    def expired(self, expiry: timedelta) -> bool:
        """Idle past the expiry (by the database's clock, the one every node shares)."""
        return not self.completed and self.db_now > self.updated_at + expiry


@dataclass(frozen=True)
class Piece:
    """A committed run of bytes: a backend part or a segment object."""

    start: int
    size: int
    part: int | None = None
    segment: int | None = None
    etag: str | None = None
    md5: str | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Piece:
        return cls(int(row["start"]), int(row["size"]), row["part"], row["segment"], row["etag"], row["md5"])


async def insert_upload(ctx: Ctx, upload_id: str, bucket_id: str, name: str, *, upsert: bool, length: int | None,
                        describing: Describing, user_metadata: dict[str, Any] | None, tus_metadata: str | None,
                        lease: uuid.UUID) -> TusUpload:
    """A new upload, already leased to its creator (creation-with-upload writes at once)."""
    async with ctx.service() as conn:
        row = await conn.fetchrow(
            "INSERT INTO storage.s3proxy_tus_uploads (id, bucket_id, name, owner_id, upsert, upload_length,"
            " metadata, user_metadata, tus_metadata, lease, lease_expires)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11))"
            f" RETURNING {_COLUMNS}",
            upload_id, bucket_id, name, ctx.principal.sub, upsert, length, describing.to_json(), user_metadata,
            tus_metadata, lease, ctx.settings.tus_lease_seconds)
    return TusUpload.from_row(row)


async def find_upload(ctx: Ctx, upload_id: str) -> TusUpload | None:
    async with ctx.service() as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM storage.s3proxy_tus_uploads WHERE id = $1", upload_id)
    return None if row is None else TusUpload.from_row(row)


async def pieces(ctx: Ctx, upload_id: str) -> list[Piece]:
    """The committed pieces in byte order: the parts, then the segments."""
    async with ctx.service() as conn:
        rows = await conn.fetch(f"SELECT {_PIECE_COLUMNS} FROM storage.s3proxy_tus_pieces WHERE upload_id = $1"
                                " ORDER BY start", upload_id)
    return [Piece.from_row(r) for r in rows]


_STALE = ("FROM storage.s3proxy_tus_uploads WHERE updated_at < now() - $1::interval"
          " AND (completed_at IS NOT NULL) = $2 AND (lease IS NULL OR lease_expires < now())")


async def stale_uploads(ctx: Ctx, idle: timedelta, *, completed: bool) -> list[TusUpload]:
    """Up to 1,000 uploads untouched for longer than `idle` whose lease (if any) has lapsed."""
    async with ctx.service() as conn:
        rows = await conn.fetch(f"SELECT {_COLUMNS} {_STALE} ORDER BY updated_at LIMIT 1000", idle, completed)
    return [TusUpload.from_row(r) for r in rows]


async def count_stale(ctx: Ctx, idle: timedelta, *, completed: bool) -> int:
    async with ctx.service() as conn:
        return int(await conn.fetchval(f"SELECT count(*) {_STALE}", idle, completed))


async def delete_completed(ctx: Ctx, upload_id: str) -> bool:
    async with ctx.service() as conn:
        done = await conn.fetchval("DELETE FROM storage.s3proxy_tus_uploads WHERE id = $1 AND completed_at IS NOT"
                                   " NULL RETURNING true", upload_id)
    return bool(done)


class Lease:
    """The right to write one upload, for as long as `async with` lasts (see the module
    docstring). Entering answers ResourceLocked (423) when another request holds it;
    the body of the block gets the upload as it stands once the lease is ours."""

    def __init__(self, ctx: Ctx, upload_id: str, *, held: uuid.UUID | None = None) -> None:
        self.ctx, self.upload_id = ctx, upload_id
        self.token = held or uuid.uuid4()
        self._held = held is not None
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self) -> TusUpload:
        async with self.ctx.service() as conn:
            row = await conn.fetchrow(
                "UPDATE storage.s3proxy_tus_uploads SET lease = $2, lease_expires = now() + make_interval(secs => $3)"
                " WHERE id = $1 AND completed_at IS NULL AND (lease IS NULL OR lease_expires < now())"
                f" RETURNING {_COLUMNS}", self.upload_id, self.token, self.ctx.settings.tus_lease_seconds)
        if row is None:
            raise errors.ResourceLocked("The upload is locked by another request; try again shortly")
        self._held = True
        return TusUpload.from_row(row)

    async def __aenter__(self) -> Lease:
        if not self._held:
            await self.acquire()
        self._renewer = asyncio.ensure_future(self._renew())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        with contextlib.suppress(Exception):  # it lapses by itself when this fails
            await asyncio.shield(self.release())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.tus_lease_seconds / 4)
            try:
                async with self.ctx.service() as conn:
                    kept = await conn.fetchval(
                        "UPDATE storage.s3proxy_tus_uploads SET lease_expires = now() + make_interval(secs => $3)"
                        " WHERE id = $1 AND lease = $2 RETURNING true",
                        self.upload_id, self.token, self.ctx.settings.tus_lease_seconds)
            except errors.Error as exc:
                log.warning("could not renew the lease of TUS upload %s: %s", self.upload_id, exc)
                continue
            if not kept:
                return  # lost (or released): the next commit finds out and fails

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        async with self.ctx.service() as conn:
            await conn.execute("UPDATE storage.s3proxy_tus_uploads SET lease = NULL, lease_expires = NULL"
                               " WHERE id = $1 AND lease = $2", self.upload_id, self.token)

    # --- writes that need the lease ---------------------------------------------------

    async def _update(self, sql: str, *args: object) -> Any:
        async with self.ctx.service() as conn:
            value = await conn.fetchval(sql, self.upload_id, self.token, *args)
        if value is None:
            raise errors.ResourceLocked("The upload's lock was lost to another request")
        return value

    async def next_number(self, counter: str) -> int:
        """A part or segment number nobody else will ever use (`next_part` / `next_segment`)."""
        assert counter in ("next_part", "next_segment")
        number: int = await self._update(f"UPDATE storage.s3proxy_tus_uploads SET {counter} = {counter} + 1"
                                         f" WHERE id = $1 AND lease = $2 RETURNING {counter}")
        return number

    async def set_length(self, length: int) -> None:
        await self._update("UPDATE storage.s3proxy_tus_uploads SET upload_length = $3, updated_at = now()"
                           " WHERE id = $1 AND lease = $2 AND upload_length IS NULL RETURNING true", length)

    async def set_backend_upload(self, backend_upload: str) -> None:
        await self._update("UPDATE storage.s3proxy_tus_uploads SET backend_upload = $3"
                           " WHERE id = $1 AND lease = $2 AND backend_upload IS NULL RETURNING true", backend_upload)

    async def commit_piece(self, before: int, piece: Piece) -> None:
        """Record `piece` and move the offset to its end, in one transaction; a part
        replaces every segment (it starts where the first of them did)."""
        async with self.ctx.service() as conn:
            moved = await conn.fetchval(
                "UPDATE storage.s3proxy_tus_uploads SET upload_offset = $4, updated_at = now(),"
                " lease_expires = now() + make_interval(secs => $5)"
                " WHERE id = $1 AND lease = $2 AND upload_offset = $3 RETURNING true",
                self.upload_id, self.token, before, piece.start + piece.size, self.ctx.settings.tus_lease_seconds)
            if not moved:
                raise errors.ResourceLocked("The upload's lock was lost to another request")
            if piece.part is not None:
                await conn.execute("DELETE FROM storage.s3proxy_tus_pieces WHERE upload_id = $1 AND segment IS NOT"
                                   " NULL", self.upload_id)
            await conn.execute(
                f"INSERT INTO storage.s3proxy_tus_pieces (upload_id, {_PIECE_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                self.upload_id, piece.start, piece.size, piece.part, piece.segment, piece.etag, piece.md5)

    async def delete(self) -> None:
        """Remove the upload's row (termination); its pieces go with it."""
        await self._update("DELETE FROM storage.s3proxy_tus_uploads WHERE id = $1 AND lease = $2 RETURNING true")
        self._held = False
