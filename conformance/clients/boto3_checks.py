"""boto3, part 1: buckets, uploads, downloads, presigned URLs and error shapes.

Every check is what a boto3 user observes against an S3 endpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx

from conformance.clients.common import (
    DEEP_KEY,
    SPECIAL_KEY,
    UNICODE_KEY,
    md5_hex,
    payload,
    s3_bucket,
    s3_client,
    s3_error,
)
from conformance.runner import Context, check, ensure, equal, raises, requirement
from conformance.target import Target

C = "boto3"


@requirement(C)
def _needs(target: Target) -> str | None:
    return None if target.has_s3 else "no S3 endpoint configured"


def s3(ctx: Context) -> Any:
    return ctx.once("boto3", lambda: s3_client(ctx.target))


def expect_error(fn: Any, status: int, codes: tuple[str, ...], what: str) -> None:
    exc = raises(fn, what)
    got_status, code = s3_error(exc)
    equal(got_status, status, f"{what}: HTTP status")
    ensure(code in codes, f"{what}: error code {code!r}, expected one of {codes}")


# --- buckets ----------------------------------------------------------------------------


@check(C, "buckets: create_bucket, then head_bucket answers 200")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    equal(s3(ctx).head_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"], 200, "head_bucket")


@check(C, "buckets: list_buckets shows a new bucket with its creation date")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    found = [x for x in s3(ctx).list_buckets()["Buckets"] if x["Name"] == b]
    ensure(found, f"{b} not in list_buckets")
    ensure(isinstance(found[0].get("CreationDate"), dt.datetime), "CreationDate is a datetime")


@check(C, "buckets: head_bucket on a missing bucket is 404")
def _(ctx: Context) -> None:
    exc = raises(lambda: s3(ctx).head_bucket(Bucket=ctx.name("missing")), "head_bucket")
    equal(s3_error(exc)[0], 404, "status")


@check(C, "buckets: delete_bucket on a missing bucket is NoSuchBucket")
def _(ctx: Context) -> None:
    expect_error(lambda: s3(ctx).delete_bucket(Bucket=ctx.name("missing")), 404, ("NoSuchBucket",), "delete_bucket")


@check(C, "buckets: deleting a non-empty bucket fails with 409 and keeps it")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"x")
    expect_error(lambda: s3(ctx).delete_bucket(Bucket=b), 409, ("BucketNotEmpty", "ResourceNotEmpty"), "delete_bucket")
    equal(s3(ctx).get_object(Bucket=b, Key="k")["Body"].read(), b"x", "object still there")


@check(C, "buckets: delete_bucket removes an empty bucket")
def _(ctx: Context) -> None:
    b = ctx.name()
    s3(ctx).create_bucket(Bucket=b)
    s3(ctx).delete_bucket(Bucket=b)
    equal(s3_error(raises(lambda: s3(ctx).head_bucket(Bucket=b), "head after delete"))[0], 404, "status")


@check(C, "buckets: get_bucket_location answers")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    loc = s3(ctx).get_bucket_location(Bucket=b)
    ensure("LocationConstraint" in loc, "LocationConstraint key present")


@check(C, "buckets: get_bucket_versioning answers without error")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    equal(s3(ctx).get_bucket_versioning(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"], 200, "status")


# --- uploads ----------------------------------------------------------------------------


def round_trip(ctx: Context, key: str, data: bytes, client: Any = None) -> None:
    c = client or s3(ctx)
    b = s3_bucket(ctx)
    c.put_object(Bucket=b, Key=key, Body=data)
    got = c.get_object(Bucket=b, Key=key)
    equal(got["Body"].read(), data, f"bytes of {key!r}")
    equal(got["ContentLength"], len(data), "ContentLength")


@check(C, "uploads: small object round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, "small.txt", b"hello conformance")


@check(C, "uploads: empty object round-trips with length 0")
def _(ctx: Context) -> None:
    round_trip(ctx, "empty.bin", b"")


@check(C, "uploads: unicode key round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, UNICODE_KEY, "ünïcödé".encode())


@check(C, "uploads: 20-level deep key round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, DEEP_KEY, b"deep")


@check(C, "uploads: key with spaces and reserved characters round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, SPECIAL_KEY, b"special")


@check(C, "uploads: legacy checksum mode (when_required) works")
def _(ctx: Context) -> None:
    legacy = s3_client(ctx.target, request_checksum_calculation="when_required",
                       response_checksum_validation="when_required")
    round_trip(ctx, "legacy.txt", b"no crc32 here", client=legacy)


@check(C, "uploads: put_object returns the MD5 ETag of the body")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    data = payload(1000)
    etag = s3(ctx).put_object(Bucket=b, Key="e", Body=data)["ETag"]
    equal(etag.strip('"'), md5_hex(data), "ETag")
    equal(s3(ctx).head_object(Bucket=b, Key="e")["ETag"], etag, "head_object ETag")


@check(C, "uploads: overwriting a key replaces its content")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"first version")
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"second")
    equal(s3(ctx).get_object(Bucket=b, Key="k")["Body"].read(), b"second", "content")


@check(C, "uploads: a wrong Content-MD5 is rejected and nothing is stored")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    bad = base64.b64encode(b"0" * 16).decode()
    exc = raises(lambda: s3(ctx).put_object(Bucket=b, Key="bad", Body=b"data", ContentMD5=bad), "put")
    status, code = s3_error(exc)
    equal(status, 400, "status")
    ensure(code in ("BadDigest", "InvalidDigest"), f"code {code!r}")
    equal(s3_error(raises(lambda: s3(ctx).head_object(Bucket=b, Key="bad"), "head"))[0], 404, "not stored")


@check(C, "uploads: upload_file of 12 MiB goes multipart and round-trips", timeout=180)
def _(ctx: Context) -> None:
    from boto3.s3.transfer import TransferConfig

    b = s3_bucket(ctx)
    data = payload(12 * 1024 * 1024, "big")
    src = ctx.file("big.bin", data)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3(ctx).upload_file(str(src), b, "big.bin", Config=cfg)
    head = s3(ctx).head_object(Bucket=b, Key="big.bin")
    equal(head["ContentLength"], len(data), "size")
    ensure(head["ETag"].strip('"').endswith("-3"), f"multipart ETag ends with -3: {head['ETag']}")
    dst = ctx.path("back.bin")
    s3(ctx).download_file(b, "big.bin", str(dst), Config=cfg)
    ensure(dst.read_bytes() == data, "downloaded bytes equal")


# --- metadata ---------------------------------------------------------------------------


@check(C, "metadata: Content-Type round-trips through head_object and get_object")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="c.csv", Body=b"a,b", ContentType="text/csv")
    equal(s3(ctx).head_object(Bucket=b, Key="c.csv")["ContentType"], "text/csv", "head ContentType")
    equal(s3(ctx).get_object(Bucket=b, Key="c.csv")["ContentType"], "text/csv", "get ContentType")


@check(C, "metadata: user metadata (x-amz-meta-*) round-trips")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="m", Body=b"x", Metadata={"color": "blue", "owner-team": "data"})
    equal(s3(ctx).head_object(Bucket=b, Key="m")["Metadata"], {"color": "blue", "owner-team": "data"}, "head Metadata")
    equal(s3(ctx).get_object(Bucket=b, Key="m")["Metadata"], {"color": "blue", "owner-team": "data"}, "get Metadata")


@check(C, "metadata: Cache-Control round-trips")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="cc", Body=b"x", CacheControl="max-age=600")
    equal(s3(ctx).head_object(Bucket=b, Key="cc").get("CacheControl"), "max-age=600", "CacheControl")


@check(C, "metadata: head_object reports size, ETag and a recent LastModified")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    put = s3(ctx).put_object(Bucket=b, Key="h", Body=b"12345")
    head = s3(ctx).head_object(Bucket=b, Key="h")
    equal(head["ContentLength"], 5, "ContentLength")
    equal(head["ETag"], put["ETag"], "ETag")
    age = dt.datetime.now(dt.UTC) - head["LastModified"]
    ensure(abs(age.total_seconds()) < 600, f"LastModified {head['LastModified']} is recent")


# --- downloads --------------------------------------------------------------------------


def ranged(ctx: Context, rng: str) -> tuple[bytes, dict[str, Any]]:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="r", Body=b"0123456789abcdefghij")
    got = s3(ctx).get_object(Bucket=b, Key="r", Range=rng)
    return got["Body"].read(), got


@check(C, "downloads: Range bytes=2-5 returns 206 with those bytes and Content-Range")
def _(ctx: Context) -> None:
    body, got = ranged(ctx, "bytes=2-5")
    equal(body, b"2345", "body")
    equal(got["ResponseMetadata"]["HTTPStatusCode"], 206, "status")
    equal(got["ContentRange"], "bytes 2-5/20", "ContentRange")


@check(C, "downloads: suffix Range bytes=-4 returns the last 4 bytes")
def _(ctx: Context) -> None:
    equal(ranged(ctx, "bytes=-4")[0], b"ghij", "body")


@check(C, "downloads: open Range bytes=15- returns the tail")
def _(ctx: Context) -> None:
    equal(ranged(ctx, "bytes=15-")[0], b"fghij", "body")


@check(C, "downloads: an unsatisfiable Range is 416 InvalidRange")
def _(ctx: Context) -> None:
    expect_error(lambda: ranged(ctx, "bytes=100-200"), 416, ("InvalidRange",), "get_object")


def put_one(ctx: Context) -> tuple[str, str]:
    b = s3_bucket(ctx)
    etag = s3(ctx).put_object(Bucket=b, Key="c", Body=b"conditional")["ETag"]
    return b, etag


@check(C, "downloads: IfNoneMatch with the current ETag is 304 Not Modified")
def _(ctx: Context) -> None:
    b, etag = put_one(ctx)
    equal(s3_error(raises(lambda: s3(ctx).get_object(Bucket=b, Key="c", IfNoneMatch=etag), "get"))[0], 304, "status")


@check(C, "downloads: IfMatch with another ETag is 412 PreconditionFailed")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    expect_error(lambda: s3(ctx).get_object(Bucket=b, Key="c", IfMatch='"0000"'), 412, ("PreconditionFailed",), "get")


@check(C, "downloads: IfMatch with the current ETag returns the object")
def _(ctx: Context) -> None:
    b, etag = put_one(ctx)
    equal(s3(ctx).get_object(Bucket=b, Key="c", IfMatch=etag)["Body"].read(), b"conditional", "body")


@check(C, "downloads: IfModifiedSince in the future is 304")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    exc = raises(lambda: s3(ctx).get_object(Bucket=b, Key="c", IfModifiedSince=later), "get")
    equal(s3_error(exc)[0], 304, "status")


@check(C, "downloads: IfUnmodifiedSince in the past is 412")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    earlier = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    exc = raises(lambda: s3(ctx).get_object(Bucket=b, Key="c", IfUnmodifiedSince=earlier), "get")
    equal(s3_error(exc)[0], 412, "status")


@check(C, "downloads: ResponseContentType and ResponseContentDisposition override headers")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    got = s3(ctx).get_object(Bucket=b, Key="c", ResponseContentType="application/x-test",
                             ResponseContentDisposition='attachment; filename="x.txt"')
    equal(got["ContentType"], "application/x-test", "ContentType")
    equal(got.get("ContentDisposition"), 'attachment; filename="x.txt"', "ContentDisposition")


@check(C, "errors: get_object on a missing key is 404 NoSuchKey")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    expect_error(lambda: s3(ctx).get_object(Bucket=b, Key="nope"), 404, ("NoSuchKey",), "get_object")


@check(C, "errors: head_object on a missing key is 404")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    equal(s3_error(raises(lambda: s3(ctx).head_object(Bucket=b, Key="nope"), "head"))[0], 404, "status")


@check(C, "errors: get_object in a missing bucket is 404 NoSuchBucket")
def _(ctx: Context) -> None:
    expect_error(lambda: s3(ctx).get_object(Bucket=ctx.name("missing"), Key="k"), 404, ("NoSuchBucket",), "get")


@check(C, "errors: a wrong secret key is 403 SignatureDoesNotMatch")
def _(ctx: Context) -> None:
    bad = Target(**{**ctx.target.__dict__, "secret_key": "wrong-secret-0000000000000000"})
    expect_error(lambda: s3_client(bad).list_buckets(), 403, ("SignatureDoesNotMatch",), "list_buckets")


@check(C, "errors: an unknown access key is 403")
def _(ctx: Context) -> None:
    bad = Target(**{**ctx.target.__dict__, "access_key": "AKIAUNKNOWNKEY000000"})
    expect_error(lambda: s3_client(bad).list_buckets(), 403, ("InvalidAccessKeyId", "AccessDenied"), "list_buckets")


@check(C, "errors: an unsigned request to a private bucket is 403 AccessDenied")
def _(ctx: Context) -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    b, _etag = put_one(ctx)
    anon = boto3.client("s3", endpoint_url=ctx.target.s3_url, region_name=ctx.target.region,
                        config=Config(signature_version=UNSIGNED, s3={"addressing_style": ctx.target.addressing_style}))
    expect_error(lambda: anon.get_object(Bucket=b, Key="c"), 403, ("AccessDenied",), "anonymous get")


# --- presigned URLs ---------------------------------------------------------------------


@check(C, "signed URLs: a presigned GET downloads with plain HTTP")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    url = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "c"}, ExpiresIn=300)
    r = httpx.get(url, timeout=30)
    equal(r.status_code, 200, "status")
    equal(r.content, b"conditional", "body")


@check(C, "signed URLs: a presigned PUT uploads with plain HTTP")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    url = s3(ctx).generate_presigned_url("put_object", Params={"Bucket": b, "Key": "up.txt"}, ExpiresIn=300)
    r = httpx.put(url, content=b"via presigned put", timeout=30)
    equal(r.status_code, 200, f"status ({r.text[:200]})")
    equal(s3(ctx).get_object(Bucket=b, Key="up.txt")["Body"].read(), b"via presigned put", "stored body")


@check(C, "signed URLs: a presigned URL with a tampered signature is 403")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    url = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "c"}, ExpiresIn=300)
    sig = url.split("X-Amz-Signature=")[1][:64]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    equal(httpx.get(bad, timeout=30).status_code, 403, "status")


@check(C, "signed URLs: an X-Amz-Expires that is not a number is 400 AuthorizationQueryParametersError")
def _(ctx: Context) -> None:
    b, _etag = put_one(ctx)
    url = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "c"}, ExpiresIn=300)
    r = httpx.get(url.replace("X-Amz-Expires=300", "X-Amz-Expires=1h"), timeout=30)
    equal(r.status_code, 400, "status")
    ensure(b"<Code>AuthorizationQueryParametersError</Code>" in r.content, f"AWS's code: {r.text[:200]}")


@check(C, "signed URLs: an expired presigned URL is 403")
def _(ctx: Context) -> None:
    import time

    b, _etag = put_one(ctx)
    url = s3(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "c"}, ExpiresIn=1)
    time.sleep(2.5)
    r = httpx.get(url, timeout=30)
    equal(r.status_code, 403, "status")
    ensure(b"<Code>" in r.content, "XML error body with a Code")
