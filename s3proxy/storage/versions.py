"""The version-write protocol every write follows (reference §8), in one place.

1. Bytes go to a fresh version key (`NewVersion`); nothing points at them yet.
2. The row is switched to that version in one statement, under the key's advisory
   lock (`commit_version`, `commit_move`; migrations 0004 and 0005).
3. The version the row pointed at before is deleted (`delete_versions`).

A failure before step 2 deletes the new version (`NewVersion` as a context manager),
so no row ever points at missing bytes and no partial object is ever visible; a
failure after it leaves only garbage bytes that `sweep` finds. Readers that looked
the row up just before a switch may find the old bytes gone: `storage.objects`
retries those reads with the new row.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from s3proxy import errors
from s3proxy.storage.conditions import etag_candidates
from s3proxy.storage.context import Ctx
from s3proxy.storage.metadata import ObjectMetadata
from s3proxy.storage.objectinfo import ObjectInfo

log = logging.getLogger("s3proxy.storage")


def advisory_key(bucket_id: str, name: str) -> int:
    """Reference §5.2: djb2-xor over UTF-16 code units, as a signed 32-bit lock id, so a
    Node Supabase Storage sharing the database takes the same locks."""
    h = 5381
    text = f"{bucket_id}/{name}".encode("utf-16-le")
    for i in range(0, len(text), 2):
        c = text[i] | (text[i + 1] << 8)
        h = ((h * 33) & 0xFFFFFFFF) ^ c
    return h - (1 << 32) if h >= 1 << 31 else h


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


async def commit_version(ctx: Ctx, version: NewVersion, metadata: ObjectMetadata,
                         user_metadata: dict[str, Any] | None, *, upsert: bool, if_match: str | None = None,
                         if_none_match_star: bool = False) -> tuple[ObjectInfo, str | None]:
    """Point the row at `version` under the key's lock, in one round trip; returns the row
    and the version it replaced, whose bytes the caller deletes (`delete_versions`)."""
    if_match_etags = None if if_match is None else etag_candidates(if_match)
    row = await ctx.lookup(
        "s3proxy_commit_version", advisory_key(version.bucket_id, version.name), version.bucket_id,
        version.name, version.id, ctx.principal.owner, ctx.principal.sub, metadata.to_json(), user_metadata,
        upsert, if_none_match_star, if_match_etags, as_service=True,
        columns="r.outcome, r.replaced, (r.obj).*",
    )
    assert row is not None  # the function always returns its one row
    outcome = row["outcome"]
    if outcome == "PreconditionFailed":
        raise errors.PreconditionFailed()
    if outcome == "KeyAlreadyExists":
        raise errors.KeyAlreadyExists()
    if outcome == "NoSuchKey":
        raise errors.NoSuchKey()
    version.committed = True
    return ObjectInfo.from_row(row), row["replaced"]


class VersionChanged(Exception):
    """The source of a move was overwritten after it was copied: copy it again."""


async def commit_move(ctx: Ctx, source: ObjectInfo, version: NewVersion, metadata: ObjectMetadata) -> ObjectInfo:
    """Switch the source's row (keeping its id) to the destination and `version`, but
    only while it still holds the version that was copied (migration 0005)."""
    locks = [advisory_key(source.bucket_id, source.name), advisory_key(version.bucket_id, version.name)]
    row = await ctx.lookup(
        "s3proxy_commit_move", locks, source.bucket_id, source.name, source.version, version.bucket_id,
        version.name, version.id, ctx.principal.owner, ctx.principal.sub, metadata.to_json(),
        as_service=True, columns="r.outcome, (r.obj).*",
    )
    assert row is not None
    outcome = row["outcome"]
    if outcome == "NoSuchKey":
        raise errors.NoSuchKey()
    if outcome == "KeyAlreadyExists":
        raise errors.KeyAlreadyExists()
    if outcome == "VersionChanged":
        raise VersionChanged()
    version.committed = True
    return ObjectInfo.from_row(row)


async def delete_versions(ctx: Ctx, bucket_id: str, name: str, versions: list[str | None]) -> None:
    """Best-effort removal of superseded bytes; a failure leaves garbage, never a broken row."""
    keys = [ctx.store.data_key(bucket_id, name, v) for v in versions if v is not None]
    if not keys:
        return
    try:
        await ctx.store.backend.delete(keys)
    except Exception:  # noqa: BLE001 - the row is already consistent
        log.warning("could not delete %d superseded version(s) of %s/%s", len(keys), bucket_id, name)
