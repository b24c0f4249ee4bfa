"""boto3, part 3: the edges AWS answers in its own way (issue 16, items 4, 7 and 8):
buckets that hold only unfinished uploads, re-created buckets, presigned expiry,
non-ASCII metadata, listing echoes, retried and conditional completions, the checksum
a multipart upload chooses, and the headers of a 304."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
from botocore.handlers import validate_ascii_metadata

from conformance.clients.boto3_checks import C, expect_error, s3
from conformance.clients.common import payload, s3_bucket, s3_client
from conformance.runner import Context, check, ensure, equal, raises

MiB = 1024 * 1024
PARTS = [payload(5 * MiB, "edge-1"), payload(1234, "edge-2")]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def multipart(ctx: Context, bucket: str, key: str, **create: Any) -> tuple[str, list[dict[str, Any]]]:
    """An upload of PARTS, not yet completed; the parts as a completion lists them."""
    client = s3(ctx)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    ctx.defer(client.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id)
    algorithm = create.get("ChecksumAlgorithm")
    parts = []
    for number, data in enumerate(PARTS, start=1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        sent = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra)
        part = {"PartNumber": number, "ETag": sent["ETag"]}
        if algorithm:
            part[f"Checksum{algorithm}"] = sent[f"Checksum{algorithm}"]
        parts.append(part)
    return upload_id, parts


def complete(ctx: Context, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], **extra: Any) -> Any:
    done = s3(ctx).complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                             MultipartUpload={"Parts": parts}, **extra)
    return {k: v for k, v in done.items() if k != "ResponseMetadata"}


# --- buckets -------------------------------------------------------------------------------


@check(C, "buckets: delete_bucket with only an unfinished multipart upload succeeds and aborts it")
def _(ctx: Context) -> None:
    b = ctx.name("mpdel")
    client = s3(ctx)
    client.create_bucket(Bucket=b)
    upload_id = client.create_multipart_upload(Bucket=b, Key="left")["UploadId"]
    client.upload_part(Bucket=b, Key="left", UploadId=upload_id, PartNumber=1, Body=b"part")
    client.delete_bucket(Bucket=b)
    expect_error(lambda: client.head_bucket(Bucket=b), 404, ("404", "NoSuchBucket"), "head_bucket after delete")
    client.create_bucket(Bucket=b)
    ctx.defer(client.delete_bucket, Bucket=b)
    ensure("Uploads" not in client.list_multipart_uploads(Bucket=b), "no upload survives the bucket")


@check(C, "buckets: re-creating your own bucket answers by AWS's region rule and keeps its objects")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    client = s3(ctx)
    client.put_object(Bucket=b, Key="kept", Body=b"k")
    if ctx.target.region == "us-east-1":
        equal(client.create_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"], 200, "us-east-1: 200")
    else:
        expect_error(lambda: client.create_bucket(Bucket=b), 409, ("BucketAlreadyOwnedByYou",), "create again")
    equal([o["Key"] for o in client.list_objects_v2(Bucket=b).get("Contents", [])], ["kept"], "objects")


@check(C, "buckets: a bucket name shorter than 3 characters is InvalidBucketName")
def _(ctx: Context) -> None:
    expect_error(lambda: s3(ctx).create_bucket(Bucket="ab"), 400, ("InvalidBucketName",), "create 'ab'")


@check(C, "errors: an object request in a deleted bucket is NoSuchBucket")
def _(ctx: Context) -> None:
    b = ctx.name("gone")
    client = s3(ctx)
    client.create_bucket(Bucket=b)
    client.delete_bucket(Bucket=b)
    for what, call in (("put_object", lambda: client.put_object(Bucket=b, Key="k", Body=b"x")),
                       ("get_object", lambda: client.get_object(Bucket=b, Key="k")),
                       ("create_multipart_upload", lambda: client.create_multipart_upload(Bucket=b, Key="k"))):
        expect_error(call, 404, ("NoSuchBucket",), what)


# --- presigned URLs, metadata, listings ------------------------------------------------------


@check(C, "signed URLs: X-Amz-Expires beyond a week is 403 AccessDenied")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"x")
    url = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=604801)
    r = httpx.get(url, timeout=30)
    equal(r.status_code, 403, "status")
    ensure(b"<Code>AccessDenied</Code>" in r.content, f"AccessDenied: {r.text[:200]}")


@check(C, "signed URLs: an expired presigned GET and PUT are 403 AccessDenied")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"old")
    get = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=1)
    put = s3(ctx).generate_presigned_url("put_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=1)
    time.sleep(2.1)
    for r in (httpx.get(get, timeout=30), httpx.put(put, content=b"new", timeout=30)):
        equal(r.status_code, 403, f"{r.request.method} status")
        ensure(b"<Code>AccessDenied</Code>" in r.content, f"AccessDenied: {r.text[:200]}")
    equal(s3(ctx).get_object(Bucket=b, Key="k")["Body"].read(), b"old", "object unchanged")


@check(C, "metadata: non-ASCII x-amz-meta values sent as raw UTF-8 are stored and returned RFC 2047-encoded")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    loose = s3_client(ctx.target, parameter_validation=False)
    loose.meta.events.unregister("before-parameter-build.s3.PutObject", validate_ascii_metadata)
    text = "Grüße, 日本"
    loose.put_object(Bucket=b, Key="m", Body=b"m", Metadata={"title": text})
    got = s3(ctx).head_object(Bucket=b, Key="m")["Metadata"]["title"]
    equal(got, "=?UTF-8?B?" + b64(text.encode()) + "?=", "returned value")


@check(C, "listing: an empty ContinuationToken is 400 InvalidArgument")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    expect_error(lambda: s3(ctx).list_objects_v2(Bucket=b, ContinuationToken=""), 400, ("InvalidArgument",),
                 "empty token")


@check(C, "listing: a prefix with a newline (and a CR) is echoed as given")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    for prefix in ("a\nb", "c\r\nd"):
        equal(s3(ctx).list_objects_v2(Bucket=b, Prefix=prefix).get("Prefix"), prefix, repr(prefix))


# --- multipart completion --------------------------------------------------------------------


@check(C, "multipart: a repeated complete_multipart_upload answers 200 with the same result", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = multipart(ctx, b, "again")
    first = complete(ctx, b, "again", upload_id, parts)
    equal(complete(ctx, b, "again", upload_id, parts), first, "second answer")


@check(C, "multipart: complete with IfNoneMatch='*' on an existing key is 412", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="taken", Body=b"first")
    upload_id, parts = multipart(ctx, b, "taken")
    expect_error(lambda: complete(ctx, b, "taken", upload_id, parts, IfNoneMatch="*"), 412,
                 ("PreconditionFailed",), "complete If-None-Match *")
    equal(s3(ctx).get_object(Bucket=b, Key="taken")["Body"].read(), b"first", "object kept")


@check(C, "multipart: get_object PartNumber beyond the last part is 416 InvalidPartNumber", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = multipart(ctx, b, "two")
    complete(ctx, b, "two", upload_id, parts)
    expect_error(lambda: s3(ctx).get_object(Bucket=b, Key="two", PartNumber=3), 416, ("InvalidPartNumber",),
                 "PartNumber=3 of 2")


# --- the upload's checksum --------------------------------------------------------------------


@check(C, "checksums: create_multipart_upload echoes ChecksumAlgorithm and ChecksumType")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    for algorithm, kind in (("SHA256", "COMPOSITE"), ("CRC64NVME", "FULL_OBJECT")):
        created = s3(ctx).create_multipart_upload(Bucket=b, Key="c", ChecksumAlgorithm=algorithm)
        s3(ctx).abort_multipart_upload(Bucket=b, Key="c", UploadId=created["UploadId"])
        equal((created.get("ChecksumAlgorithm"), created.get("ChecksumType")), (algorithm, kind), algorithm)


@check(C, "checksums: a SHA256 multipart upload completes with its composite checksum, shown by head_object",
       timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = multipart(ctx, b, "sha", ChecksumAlgorithm="SHA256")
    expected = b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in PARTS)).digest()) + "-2"
    done = complete(ctx, b, "sha", upload_id, parts)
    equal((done.get("ChecksumSHA256"), done.get("ChecksumType")), (expected, "COMPOSITE"), "completion")
    head = s3(ctx).head_object(Bucket=b, Key="sha", ChecksumMode="ENABLED")
    equal((head.get("ChecksumSHA256"), head.get("ChecksumType")), (expected, "COMPOSITE"), "head_object")


@check(C, "checksums: get_object_attributes pages parts with MaxParts and PartNumberMarker", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = multipart(ctx, b, "paged", ChecksumAlgorithm="SHA256")
    complete(ctx, b, "paged", upload_id, parts)
    first = s3(ctx).get_object_attributes(Bucket=b, Key="paged", ObjectAttributes=["ObjectParts"],
                                          MaxParts=1)["ObjectParts"]
    equal(([p["PartNumber"] for p in first.get("Parts", [])], first.get("IsTruncated")), ([1], True), "page 1")
    rest = s3(ctx).get_object_attributes(Bucket=b, Key="paged", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                         PartNumberMarker=first["NextPartNumberMarker"])["ObjectParts"]
    equal(([p["PartNumber"] for p in rest.get("Parts", [])], rest.get("IsTruncated")), ([2], False), "page 2")


@check(C, "checksums: a malformed x-amz-checksum-sha256 is InvalidRequest, a wrong one BadDigest")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    expect_error(lambda: s3(ctx).put_object(Bucket=b, Key="k", Body=b"x", ChecksumSHA256="not base64!"), 400,
                 ("InvalidRequest",), "malformed")
    expect_error(lambda: s3(ctx).put_object(Bucket=b, Key="k", Body=b"x", ChecksumSHA256=b64(bytes(32))), 400,
                 ("BadDigest",), "wrong")


@check(C, "conditional: a 304 carries ETag and Last-Modified")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    etag = s3(ctx).put_object(Bucket=b, Key="n", Body=b"n")["ETag"]
    exc = raises(lambda: s3(ctx).get_object(Bucket=b, Key="n", IfNoneMatch=etag), "If-None-Match")
    response: Any = getattr(exc, "response", {})
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    equal(response.get("ResponseMetadata", {}).get("HTTPStatusCode"), 304, "status")
    equal(headers.get("etag"), etag, "ETag")
    ensure(headers.get("last-modified", "").endswith("GMT"), f"Last-Modified: {headers.get('last-modified')!r}")

