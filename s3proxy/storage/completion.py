"""CompleteMultipartUpload: check the part list, the checksums and the conditions,
assemble the parts, commit the version; and the record that answers a retried
completion with the first one's result.

The rules are AWS's (CompleteMultipartUpload reference; LocalStack's AWS-validated
behaviour where the reference is silent):
- every listed part must exist with its ETag (InvalidPart), in ascending order
  (InvalidPartOrder), all but the last at least 5 MiB (EntityTooSmall);
- an upload created with a checksum algorithm has each part's checksum of it (sent
  with the part or computed here). COMPOSITE: the request must list each part's
  checksum (else InvalidRequest), equal to the stored one (else InvalidPart), and the
  object's checksum is the checksum of the parts' checksums, `value-N`. FULL_OBJECT
  (CRCs only): the parts' CRCs combine into the whole object's CRC. A checksum the
  request claims in x-amz-checksum-<algorithm> must equal the computed one (BadDigest);
  the result is returned either way;
- If-None-Match: * fails with 412 when the key exists, If-Match when the current ETag
  differs (checked before assembling, and again atomically at the commit);
- x-amz-mp-object-size, when sent, must equal the parts' total.

A completion first claims its upload in `storage.s3proxy_completed_uploads` (migration
0008), so two completions of one upload (an SDK retrying while the first still runs)
never assemble the same version at once: the second is told to retry (OperationAborted).
The claim becomes the record of the result in the statement that deletes the upload's
row, and a completion retried after that answers 200 with the same result, as S3 does,
when it lists the same parts. `sweep_completed_uploads` removes records past their
retention.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from s3proxy import errors
from s3proxy.auth.checksums import COMPOSITE, CRC_ALGORITHMS, FULL_OBJECT, combine_crcs, composite_checksum
from s3proxy.backends.base import PartInfo
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.conditions import Conditions
from s3proxy.storage.context import Ctx
from s3proxy.storage.limits import max_upload_size, validate_key
from s3proxy.storage.metadata import Describing, ObjectMetadata, Parts
from s3proxy.storage.multipart import (
    MIN_PART_SIZE,
    Part,
    Upload,
    bare_etag,
    check_part_number,
    get_upload,
    part_from_row,
)
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import probe_write
from s3proxy.storage.versions import NewVersion, commit_version, delete_versions

log = logging.getLogger("s3proxy.storage")

# how long a completed upload's result is kept for retried completions (what the sweep
# uses unless told otherwise)
COMPLETED_UPLOAD_RETENTION = timedelta(hours=24)
# a claim this old belongs to a completion that died (a crashed worker): it may be taken over
STALE_CLAIM = timedelta(minutes=15)


@dataclass(frozen=True)
class CompletedPart:
    """One <Part> of the request: its number, ETag and any Checksum<ALG> elements."""

    number: int
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)  # algorithm -> base64


@dataclass(frozen=True)
class CompleteOptions:
    """What the request's headers say beyond the part list."""

    claimed: Mapping[str, str] = field(default_factory=dict)  # x-amz-checksum-<alg>: the object's checksum
    checksum_type: str | None = None  # x-amz-checksum-type
    object_size: int | None = None  # x-amz-mp-object-size
    if_match: str | None = None
    if_none_match_star: bool = False


@dataclass(frozen=True)
class Completion:
    """The result: what CompleteMultipartUploadResult says."""

    bucket_id: str
    key: str
    etag: str
    checksum: tuple[str, str, str] | None = None  # (algorithm, base64 value, COMPOSITE | FULL_OBJECT)


def _parts_digest(wanted: list[CompletedPart]) -> str:
    listed = ";".join(f"{p.number}:{bare_etag(p.etag)}" for p in wanted)
    return hashlib.sha256(listed.encode()).hexdigest()


async def complete_upload(ctx: Ctx, bucket_id: str, key: str, upload_id: str, wanted: list[CompletedPart],
                          opts: CompleteOptions | None = None) -> Completion:
    """Complete the upload with exactly the listed parts (see the module docstring)."""
    opts = opts or CompleteOptions()
    validate_key(key)
    if not wanted:
        raise errors.MalformedXML("You must specify at least one part")
    digest = _parts_digest(wanted)
    upload = await _upload_or_result(ctx, bucket_id, key, upload_id, digest)
    if isinstance(upload, Completion):
        return upload
    numbers = [p.number for p in wanted]
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise errors.InvalidPartOrder()
    for number in numbers:
        check_part_number(number)
    await _check_conditions(ctx, bucket_id, key, opts)
    await probe_write(ctx, bucket_id, key, upsert=True)
    if not await _claim(ctx, upload, digest):
        # another completion holds the upload: it may have finished meanwhile
        again = await _upload_or_result(ctx, bucket_id, key, upload_id, digest)
        if isinstance(again, Completion):
            return again
        raise errors.ConflictingOperation("Another CompleteMultipartUpload of this upload is in progress. "
                                          "Please try again.")
    # from here on this completion owns the upload: the version key is the upload's own
    # (its parts were uploaded there), and the claim is what keeps a second completion
    # from assembling it too, or deleting bytes this one committed
    assembled = False
    try:
        async with ctx.service() as conn:
            rows = await conn.fetch(
                "SELECT part_number, etag, size, created_at FROM storage.s3_multipart_uploads_parts"
                " WHERE upload_id = $1 AND part_number = ANY($2::int[])", upload.id, numbers)
        parts = _listed_parts(upload, wanted, {r["part_number"]: part_from_row(r) for r in rows})
        for part in parts[:-1]:
            if part.size < MIN_PART_SIZE:
                raise errors.EntityTooSmall()
        checksum = _object_checksum(upload, parts, opts)
        total = sum(p.size for p in parts)
        if opts.object_size is not None and opts.object_size != total:
            raise errors.InvalidRequest(f"The provided 'x-amz-mp-object-size' header value {opts.object_size} "
                                        f"does not match what was computed: {total}")
        bucket = await find_bucket_as_service(ctx, bucket_id)
        if total > max_upload_size(bucket, ctx.settings, standard=False):
            raise errors.EntityTooLarge()
        digests = b"".join(bytes.fromhex(bare_etag(p.etag)) for p in parts)
        etag = f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'
        version = NewVersion(ctx, bucket_id, key, upload.version)
        assembled = True
        # the backend part ids name exactly the bytes each listed part row describes, so
        # a part uploaded again meanwhile is not what gets assembled
        await ctx.store.backend.complete_multipart(version.key, upload.id,
                                                   [PartInfo(p.number, p.backend_etag) for p in parts])
        composite = checksum is not None and checksum[2] == COMPOSITE
        metadata = ObjectMetadata.new(
            etag, total, Describing.from_json(upload.metadata), datetime.now(UTC),
            checksums={checksum[0]: checksum[1]} if checksum else None,
            parts=Parts(sizes=tuple(p.size for p in parts),
                        checksums=tuple(p.checksum[1] for p in parts if p.checksum) if composite else (),
                        checksum_type=checksum[2] if checksum else None))
        info, replaced = await commit_version(ctx, version, metadata, upload.user_metadata, upsert=True,
                                              if_match=opts.if_match, if_none_match_star=opts.if_none_match_star)
    except BaseException:
        await _release(ctx, upload, assembled)
        raise
    completion = Completion(bucket_id, key, info.etag, checksum)
    await _record(ctx, upload, completion)
    await delete_versions(ctx, bucket_id, key, [replaced])
    return completion


async def _upload_or_result(ctx: Ctx, bucket_id: str, key: str, upload_id: str,
                            digest: str) -> Upload | Completion:
    """The upload, or the result of its completion with these parts (a retry); else
    NoSuchUpload. The result is recorded in the statement that deletes the upload's
    row, so one of the two is always found."""
    try:
        return await get_upload(ctx, bucket_id, key, upload_id)
    except errors.NoSuchUpload:
        done = await _completed(ctx, bucket_id, key, upload_id, digest)
        if done is None:
            raise
        return done


async def _check_conditions(ctx: Ctx, bucket_id: str, key: str, opts: CompleteOptions) -> None:
    """If-None-Match / If-Match against the current object, before the parts are
    assembled (the commit checks again, atomically)."""
    if not opts.if_none_match_star and opts.if_match is None:
        return
    row = await ctx.lookup("s3proxy_scoped_object", bucket_id, key, as_service=True)
    if row is None:
        if opts.if_match is not None:
            raise errors.NoSuchKey()
        return
    if opts.if_none_match_star:
        raise errors.PreconditionFailed()
    if not Conditions(if_match=opts.if_match).matches_etag(ObjectInfo.from_row(row).etag):
        raise errors.PreconditionFailed()


def _listed_parts(upload: Upload, wanted: list[CompletedPart], stored: dict[int, Part]) -> list[Part]:
    """The stored parts the request lists, each checked against what it says of them."""
    algorithm, kind = upload.checksum or (None, None)
    parts: list[Part] = []
    for listed in wanted:
        part = stored.get(listed.number)
        if part is None or bare_etag(part.etag) != bare_etag(listed.etag):
            raise errors.InvalidPart()
        given = listed.checksums.get(algorithm) if algorithm is not None else None
        if algorithm is not None and given is None and kind == COMPOSITE:
            if listed.checksums:
                other = next(iter(listed.checksums))
                raise errors.BadDigest(f"The {other} you specified for part {listed.number} did not match what "
                                       "we received.")
            raise errors.InvalidRequest(f"The upload was created using a {algorithm} checksum. The complete "
                                        "request must include the checksum for each part. It was missing for "
                                        f"part {listed.number} in the request.")
        for named, value in listed.checksums.items():  # what the request says must be what we stored
            mine = part.checksum[1] if part.checksum is not None and part.checksum[0] == named else None
            if (mine is not None or named == algorithm) and mine != value.strip():
                raise errors.InvalidPart()
        parts.append(part)
    return parts


def _object_checksum(upload: Upload, parts: list[Part], opts: CompleteOptions) -> tuple[str, str, str] | None:
    """(algorithm, value, type) of the object, from the parts' checksums; checked against
    the one the request claims, if any."""
    if len(opts.claimed) > 1:
        raise errors.InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                                    "allowed.")
    claimed_algorithm, claimed = next(iter(opts.claimed.items()), (None, None))
    asked_type = opts.checksum_type.strip().upper() if opts.checksum_type else None
    if upload.checksum is not None:
        algorithm, kind = upload.checksum
        if asked_type is not None and asked_type != kind:
            raise errors.InvalidRequest(f"The upload was created using the {kind} checksum mode. The complete "
                                        "request must use the same checksum mode.")
        if claimed_algorithm is not None and claimed_algorithm != algorithm:
            raise errors.InvalidRequest(f"Checksum Type mismatch occurred, expected checksum Type: {algorithm}, "
                                        f"actual checksum Type: {claimed_algorithm}")
    elif claimed_algorithm is not None:
        # the upload chose no algorithm, yet the completion claims the whole object's CRC
        # (what the AWS CLI v2 does): checked against the CRCs its parts were sent with
        if claimed_algorithm not in CRC_ALGORITHMS or (asked_type or FULL_OBJECT) != FULL_OBJECT:
            raise errors.NotImplemented("Only FULL_OBJECT CRC checksums can be claimed for an upload created "
                                        "without a checksum algorithm")
        algorithm, kind = claimed_algorithm, FULL_OBJECT
    else:
        return None
    values: list[str] = []
    for part in parts:
        if part.checksum is None or part.checksum[0] != algorithm:
            raise errors.InvalidRequest(f"The upload was created using a {algorithm} checksum. The complete "
                                        "request must include the checksum for each part. It was missing for "
                                        f"part {part.number} in the request.")
        values.append(part.checksum[1])
    if kind == COMPOSITE:
        value = composite_checksum(algorithm, values)
        matches = claimed is None or claimed.strip() in (value, value.rsplit("-", 1)[0])
    else:
        value = combine_crcs(algorithm, [(v, p.size) for v, p in zip(values, parts, strict=True)])
        matches = claimed is None or hmac.compare_digest(claimed.strip(), value)
    if not matches:
        raise errors.BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return algorithm, value, kind


# --- the record ---------------------------------------------------------------------------


async def _claim(ctx: Ctx, upload: Upload, digest: str) -> bool:
    """Claim the upload for this completion; False when another holds a live claim."""
    async with ctx.service() as conn:
        row = await conn.fetchval(
            "INSERT INTO storage.s3proxy_completed_uploads AS c (upload_id, bucket_id, key, owner_id,"
            " parts_digest) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (upload_id) DO UPDATE"
            " SET parts_digest = excluded.parts_digest, started_at = now(), completed_at = NULL"
            " WHERE c.completed_at IS NULL AND c.started_at < now() - $6::interval RETURNING upload_id",
            upload.id, upload.bucket_id, upload.key, upload.owner_id, digest, STALE_CLAIM)
    return row is not None


async def _release(ctx: Ctx, upload: Upload, assembled: bool) -> None:
    """A completion failed: delete the bytes it may have assembled, unless a row points at
    them (a completion that committed, then died before recording), then drop the claim."""
    try:
        if assembled:
            async with ctx.service() as conn:
                in_use = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM storage.objects WHERE bucket_id = $1 AND name = $2"
                    " AND version = $3)", upload.bucket_id, upload.key, upload.version)
            if not in_use:
                await delete_versions(ctx, upload.bucket_id, upload.key, [upload.version])
        async with ctx.service() as conn:
            await conn.execute("DELETE FROM storage.s3proxy_completed_uploads WHERE upload_id = $1"
                               " AND completed_at IS NULL", upload.id)
    except errors.Error:  # the original failure matters more; the claim goes stale in time
        log.warning("could not release the completion claim of upload %s", upload.id)


async def _record(ctx: Ctx, upload: Upload, done: Completion) -> None:
    """The upload's row goes, its result stays, in one statement."""
    algorithm, value, kind = done.checksum or (None, None, None)
    async with ctx.service() as conn:
        await conn.execute(
            "WITH gone AS (DELETE FROM storage.s3_multipart_uploads WHERE id = $1)"
            " UPDATE storage.s3proxy_completed_uploads SET etag = $2, checksum_algorithm = $3,"
            " checksum_value = $4, checksum_type = $5, completed_at = now() WHERE upload_id = $1",
            upload.id, done.etag, algorithm, value, kind)


async def _completed(ctx: Ctx, bucket_id: str, key: str, upload_id: str, digest: str) -> Completion | None:
    """The recorded result of this upload's completion, if it completed with these parts."""
    async with ctx.service() as conn:
        row = await conn.fetchrow(
            "SELECT owner_id, parts_digest, etag, checksum_algorithm, checksum_value, checksum_type"
            " FROM storage.s3proxy_completed_uploads WHERE upload_id = $1 AND bucket_id = $2 AND key = $3"
            " AND completed_at IS NOT NULL", upload_id, bucket_id, key)
    if row is None or not hmac.compare_digest(row["parts_digest"], digest):
        return None
    if not ctx.is_service and row["owner_id"] != ctx.principal.sub:
        return None
    checksum = None
    if row["checksum_algorithm"]:
        checksum = (row["checksum_algorithm"], row["checksum_value"], row["checksum_type"])
    return Completion(bucket_id, key, row["etag"], checksum)


async def sweep_completed_uploads(ctx: Ctx, older_than: timedelta = COMPLETED_UPLOAD_RETENTION, *,
                                  dry_run: bool = False) -> int:
    """Delete the records of completions (and claims) older than `older_than`; returns how
    many (would go, in a dry run). For the `sweep` command, whose default grace period (a
    day) is COMPLETED_UPLOAD_RETENTION: past this age a retried completion answers
    NoSuchUpload, as it would have before the record existed."""
    old = "coalesce(completed_at, started_at) < now() - $1::interval"
    async with ctx.service() as conn:
        if dry_run:
            return int(await conn.fetchval(f"SELECT count(*) FROM storage.s3proxy_completed_uploads WHERE {old}",
                                           older_than))
        deleted = await conn.fetch(f"DELETE FROM storage.s3proxy_completed_uploads WHERE {old} RETURNING upload_id",
                                   older_than)
    return len(deleted)
