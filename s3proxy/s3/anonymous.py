"""What an unsigned S3 request may do: read a public bucket, nothing else.

A public bucket (`public = true`, the canned ACL `public-read`) lets anyone read its
objects, as REST `/object/public/...` does, and list them, as AWS's public-read grants
READ on the bucket (ListObjects, HeadBucket). Those operations run in service scope,
confined to the one bucket, exactly like REST's public reads. Everything else is
AccessDenied.

What an anonymous caller learns about existence follows AWS: a bucket name is global
and public knowledge, so a missing bucket is 404 NoSuchBucket and a private one 403
AccessDenied, whatever the key; in a public bucket a missing key is 404 NoSuchKey (the
caller may list the bucket anyway, which is AWS's rule for 404 versus 403). Without a
bucket (ListBuckets) the answer is AccessDenied.
"""

from __future__ import annotations

from s3proxy import errors
from s3proxy.s3 import buckets, objects
from s3proxy.s3.request import OperationFn
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.context import Ctx

PUBLIC_READS: frozenset[OperationFn] = frozenset({
    objects.get_object, objects.head_object, buckets.head_bucket, buckets.list_objects, buckets.list_objects_v2,
})


async def anonymous_ctx(ctx: Ctx, bucket: str | None, operation: OperationFn) -> Ctx:
    """The context an unsigned request runs in, or AccessDenied / NoSuchBucket."""
    if bucket is None:
        raise errors.AccessDenied()
    found = await find_bucket_as_service(ctx, bucket)
    if not found.public or operation not in PUBLIC_READS:
        raise errors.AccessDenied()
    return ctx.as_service()
