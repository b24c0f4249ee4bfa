"""Service-level operations (no bucket in the request): ListBuckets."""

from __future__ import annotations

import base64
import binascii

from s3proxy import errors
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.xml import Child, document
from s3proxy.storage import buckets as store_buckets

MAX_BUCKETS = 10_000


def owner(req: S3Request) -> list[Child]:
    """The Owner element: the caller's sub, or the tenant for the static keys."""
    ident = req.ctx.principal.sub or req.ctx.settings.tenant_id
    return [("ID", ident), ("DisplayName", ident)]


def encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


BAD_TOKEN = "The continuation token provided is incorrect"
TOKEN_ARGUMENT = (("ArgumentName", "continuation-token"),)


def decode_token(token: str) -> str:
    """A continuation token we wrote; an empty or unreadable one is AWS's 400
    InvalidArgument naming the argument (an empty token is not "no token": AWS refuses
    it, as boto3 against AWS shows in minio/minio#5931)."""
    try:
        decoded = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise errors.InvalidArgument(BAD_TOKEN, details=TOKEN_ARGUMENT) from exc
    if not token:
        raise errors.InvalidArgument(BAD_TOKEN, details=TOKEN_ARGUMENT)
    return decoded


def int_param(req: S3Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidArgument(f"Provided {name} not an integer or within integer range") from None
    if value < low:
        raise errors.InvalidArgument(f"Argument {name} must be an integer between {low} and "
                           f"{high if high is not None else 2147483647}")
    return min(value, high) if high is not None else value


async def list_buckets(req: S3Request) -> S3Response:
    """All buckets the caller may see (RLS), in name order, paged by name."""
    prefix = req.query.get("prefix") or ""
    limit = int_param(req, "max-buckets", MAX_BUCKETS, low=1, high=MAX_BUCKETS)
    after = decode_token(req.query["continuation-token"]) if req.query.get("continuation-token") else None
    found = await store_buckets.list_buckets(req.ctx)
    chosen = sorted((b for b in found if b.id.startswith(prefix) and (after is None or b.id > after)),
                    key=lambda b: b.id.encode())
    page, more = chosen[:limit], len(chosen) > limit
    region = req.ctx.settings.s3_protocol_region
    items: list[Child] = [("Bucket", [("Name", b.id), ("CreationDate", b.created_at), ("BucketRegion", region)])
                          for b in page]
    children: list[Child] = [("Buckets", items), ("Owner", owner(req))]
    if more and page:
        children.append(("ContinuationToken", encode_token(page[-1].id)))
    if "prefix" in req.query:
        children.append(("Prefix", prefix))
    return S3Response.document(document("ListAllMyBucketsResult", children))
