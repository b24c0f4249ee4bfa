"""A bucket's CORS rules (S3's PutBucketCors / GetBucketCors / DeleteBucketCors).

Who may change them is who may change the bucket: the RLS UPDATE policy on
storage.buckets, probed as the caller. The rules themselves are kept in
`storage.s3proxy_bucket_cors` (migration 0009), read in service scope when a
browser's request for the bucket arrives.
"""

from __future__ import annotations

from s3proxy import errors
from s3proxy.cors import CorsRule
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.context import Ctx


async def _may_change(ctx: Ctx, bucket_id: str) -> None:
    await find_bucket_as_service(ctx, bucket_id)
    if ctx.is_service:
        return
    async with ctx.user(rollback=True) as conn:
        row = await conn.fetchval("UPDATE storage.buckets SET updated_at = updated_at WHERE id = $1 RETURNING id",
                                  bucket_id)
    if row is None:
        raise errors.AccessDenied()


async def get_rules(ctx: Ctx, bucket_id: str) -> list[CorsRule] | None:
    """The bucket's rules, None when it has no configuration (the bucket must exist)."""
    async with ctx.service() as conn:
        rules = await conn.fetchval("SELECT rules FROM storage.s3proxy_bucket_cors WHERE bucket_id = $1", bucket_id)
    return None if rules is None else [CorsRule.from_json(r) for r in rules]


async def put_rules(ctx: Ctx, bucket_id: str, rules: list[CorsRule]) -> None:
    await _may_change(ctx, bucket_id)
    async with ctx.service() as conn:
        await conn.execute(
            "INSERT INTO storage.s3proxy_bucket_cors (bucket_id, rules) VALUES ($1, $2)"
            " ON CONFLICT (bucket_id) DO UPDATE SET rules = excluded.rules, updated_at = now()",
            bucket_id, [r.to_json() for r in rules])


async def delete_rules(ctx: Ctx, bucket_id: str) -> None:
    await _may_change(ctx, bucket_id)
    async with ctx.service() as conn:
        await conn.execute("DELETE FROM storage.s3proxy_bucket_cors WHERE bucket_id = $1", bucket_id)
