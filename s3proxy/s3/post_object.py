"""POST Object: browser form uploads (`multipart/form-data` POST to the bucket).

The form is its own credential: a policy signed with an access key (SigV4 as boto3's
`generate_presigned_post` and the AWS SDKs build it, or SigV2), verified by
auth/post_policy.py. The request is read in order as it streams: the fields before
the file (at most 20 KB, AWS's limit), then the policy is checked, the caller's
identity looked up (the admin key, a session token, or a user's key: RLS applies as
for any S3 upload), and only then does the file part stream into storage, with the
policy's content-length-range enforced chunk by chunk. Fields after the file are
ignored, as AWS does.

The answer is AWS's: a redirect (303) to `success_action_redirect` with bucket, key and
etag in its query; else `success_action_status` 200 (empty), 201 (a PostResponse
document) or 204 (the default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode, urlsplit

from s3proxy import errors
from s3proxy.auth import post_policy
from s3proxy.auth.post_policy import MAX_PRE_DATA, PostUpload
from s3proxy.rest.multipart_form import FormReader, Part, form_boundary
from s3proxy.s3 import meta
from s3proxy.s3.acl import canned_public
from s3proxy.s3.auth import identity
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.xml import document
from s3proxy.storage import objects as store
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.objects import WriteOptions
from s3proxy.storage.streams import PlainBody

FILE_FIELD = "file"
_ENCLOSURE = "Bucket POST must be of the enclosure-type multipart/form-data"


async def read_fields(reader: FormReader) -> tuple[dict[str, str], Part]:
    """The fields before the file (post_policy.form_fields' rules) and the file's part."""
    pairs: list[tuple[str, str]] = []
    budget = MAX_PRE_DATA
    while (part := await reader.next_part()) is not None:
        if part.name.lower() == FILE_FIELD:
            return post_policy.form_fields(pairs), part
        try:
            raw = await reader.read_field(budget)
        except errors.EntityTooLarge:
            raise errors.MaxPostPreDataLengthExceeded() from None
        budget -= len(raw) + len(part.name.encode())
        try:
            pairs.append((part.name, raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise errors.MalformedPOSTRequest(f"The form field {part.name!r} is not UTF-8 text.") from None
    post_policy.form_fields(pairs)  # duplicates and size still answer as such
    raise errors.InvalidArgument("POST requires exactly one file upload per request.")


async def _limited(chunks: AsyncIterator[bytes], upload: PostUpload) -> AsyncIterator[bytes]:
    """The file's bytes, within the policy's content-length-range as they arrive."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        upload.check_size(size)
        yield chunk
    upload.check_size(size, final=True)


def _redirect(target: str, bucket: str, key: str, etag: str) -> str | None:
    """success_action_redirect with AWS's query added; None when it is not a URL."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = urlencode({"bucket": bucket, "key": key, "etag": etag})
    return f"{target}{'&' if parts.query else '?'}{query}"


async def post_object(req: S3Request) -> S3Response:
    boundary = form_boundary(req.header("content-type") or "")
    if boundary is None:
        raise errors.PreconditionFailed(_ENCLOSURE)
    bucket_name = req.bucket_name
    reader = FormReader(aiter(req.body), boundary)
    fields, part = await read_fields(reader)
    bucket = await find_bucket_as_service(req.ctx, bucket_name)
    if not post_policy.is_signed(fields):
        raise errors.AccessDenied("Anonymous form uploads are not allowed: sign the form's policy")
    parsed = post_policy.parse(fields)
    secret, principal = await identity(req.ctx.store, parsed.access_key_id, parsed.session_token)
    upload = post_policy.check(parsed, secret, bucket=bucket_name, filename=part.filename or "")
    ctx = req.ctx.as_principal(principal())
    values = upload.fields
    if "acl" in values and canned_public(values["acl"]) != bucket.public:
        raise errors.AccessControlListNotSupported(
            f"Objects follow their bucket's ACL, which is {'public-read' if bucket.public else 'private'}")
    described = {k: v for k, v in values.items() if k != "content-type"}
    described["content-type"] = values.get("content-type") or part.content_type or ""
    opts = WriteOptions(describing=meta.describing(described), user_metadata=meta.user_metadata(values),
                        upsert=True)
    info = await store.put_object(ctx, bucket_name, upload.key, PlainBody(_limited(reader.content(), upload)),
                                  opts)
    location = f"{req.bucket_url}/{quote(upload.key, safe='/~')}"
    headers = [("ETag", info.etag), ("Location", location)]
    target = values.get("success_action_redirect") or values.get("redirect")
    if target and (url := _redirect(target, bucket_name, upload.key, info.etag)) is not None:
        return S3Response(status=303, headers=[("ETag", info.etag), ("Location", url)])
    status = values.get("success_action_status")
    if status == "201":
        body = document("PostResponse", [("Location", location), ("Bucket", bucket_name), ("Key", upload.key),
                                         ("ETag", info.etag)])
        return S3Response.document(body, status=201, headers=headers)
    return S3Response(status=200 if status == "200" else 204, headers=headers)
