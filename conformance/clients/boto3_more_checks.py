"""boto3, part 2: listing, copy, multipart, delete and tagging."""

from __future__ import annotations

from typing import Any

from conformance.clients.boto3_checks import C, expect_error, s3
from conformance.clients.common import (
    PAGED_COUNT,
    UNICODE_KEY,
    md5_hex,
    paged_s3_bucket,
    payload,
    s3_bucket,
)
from conformance.runner import Context, check, ensure, equal, raises

MiB = 1024 * 1024


def tree(ctx: Context) -> str:
    """A bucket with a small folder tree."""
    b = s3_bucket(ctx)
    for k in ["a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "other/e.txt"]:
        s3(ctx).put_object(Bucket=b, Key=k, Body=k.encode())
    return b


def keys(page: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in page.get("Contents", [])]


# --- listing ----------------------------------------------------------------------------


@check(C, "listing: list_objects_v2 with Prefix returns only that prefix, sorted")
def _(ctx: Context) -> None:
    b = tree(ctx)
    equal(keys(s3(ctx).list_objects_v2(Bucket=b, Prefix="dir/")), ["dir/b.txt", "dir/c.txt", "dir/sub/d.txt"], "keys")


@check(C, "listing: Delimiter '/' folds folders into CommonPrefixes")
def _(ctx: Context) -> None:
    b = tree(ctx)
    page = s3(ctx).list_objects_v2(Bucket=b, Delimiter="/")
    equal(keys(page), ["a.txt"], "Contents")
    equal([p["Prefix"] for p in page.get("CommonPrefixes", [])], ["dir/", "other/"], "CommonPrefixes")


@check(C, "listing: Prefix plus Delimiter lists one folder level")
def _(ctx: Context) -> None:
    b = tree(ctx)
    page = s3(ctx).list_objects_v2(Bucket=b, Prefix="dir/", Delimiter="/")
    equal(keys(page), ["dir/b.txt", "dir/c.txt"], "Contents")
    equal([p["Prefix"] for p in page.get("CommonPrefixes", [])], ["dir/sub/"], "CommonPrefixes")


@check(C, "listing: first page of a >1000-key bucket has 1000 keys and IsTruncated", timeout=240)
def _(ctx: Context) -> None:
    b = paged_s3_bucket(ctx)
    page = s3(ctx).list_objects_v2(Bucket=b)
    equal(page["KeyCount"], 1000, "KeyCount")
    equal(page["IsTruncated"], True, "IsTruncated")
    ensure(page.get("NextContinuationToken"), "NextContinuationToken present")


@check(C, "listing: the list_objects_v2 paginator yields every key once over >1000 keys", timeout=240)
def _(ctx: Context) -> None:
    b = paged_s3_bucket(ctx)
    got = [k for page in s3(ctx).get_paginator("list_objects_v2").paginate(Bucket=b) for k in keys(page)]
    equal(len(got), PAGED_COUNT, "key count")
    equal(got, [f"p/{i:04d}" for i in range(PAGED_COUNT)], "keys in order")


@check(C, "listing: the v1 list_objects paginator (Marker) yields every key over >1000 keys", timeout=240)
def _(ctx: Context) -> None:
    b = paged_s3_bucket(ctx)
    got = [k for page in s3(ctx).get_paginator("list_objects").paginate(Bucket=b) for k in keys(page)]
    equal(len(got), PAGED_COUNT, "key count")
    equal(len(set(got)), PAGED_COUNT, "distinct keys")


@check(C, "listing: MaxKeys=2 with ContinuationToken walks the bucket in pages")
def _(ctx: Context) -> None:
    b = tree(ctx)
    seen: list[str] = []
    kwargs: dict[str, Any] = {}
    for _ in range(10):
        page = s3(ctx).list_objects_v2(Bucket=b, MaxKeys=2, **kwargs)
        ensure(len(keys(page)) <= 2, "at most 2 keys per page")
        seen += keys(page)
        if not page["IsTruncated"]:
            break
        kwargs = {"ContinuationToken": page["NextContinuationToken"]}
    equal(seen, ["a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "other/e.txt"], "keys")


@check(C, "listing: StartAfter skips keys up to and including it")
def _(ctx: Context) -> None:
    b = tree(ctx)
    equal(keys(s3(ctx).list_objects_v2(Bucket=b, StartAfter="dir/c.txt")), ["dir/sub/d.txt", "other/e.txt"], "keys")


@check(C, "listing: an empty bucket lists KeyCount 0 and no Contents")
def _(ctx: Context) -> None:
    page = s3(ctx).list_objects_v2(Bucket=s3_bucket(ctx))
    equal(page["KeyCount"], 0, "KeyCount")
    equal(page.get("Contents", []), [], "Contents")


@check(C, "listing: listing a missing bucket is 404 NoSuchBucket")
def _(ctx: Context) -> None:
    expect_error(lambda: s3(ctx).list_objects_v2(Bucket=ctx.name("missing")), 404, ("NoSuchBucket",), "list")


@check(C, "listing: entries carry Size and the same ETag as put_object")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    etag = s3(ctx).put_object(Bucket=b, Key="s", Body=b"seven!!")["ETag"]
    obj = s3(ctx).list_objects_v2(Bucket=b)["Contents"][0]
    equal(obj["Size"], 7, "Size")
    equal(obj["ETag"], etag, "ETag")


@check(C, "listing: unicode keys come back intact")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key=UNICODE_KEY, Body=b"u")
    equal(keys(s3(ctx).list_objects_v2(Bucket=b)), [UNICODE_KEY], "keys")


# --- copy -------------------------------------------------------------------------------


@check(C, "copy: copy_object within a bucket duplicates the bytes")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="src", Body=b"copy me")
    s3(ctx).copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    equal(s3(ctx).get_object(Bucket=b, Key="dst")["Body"].read(), b"copy me", "copy")
    equal(s3(ctx).get_object(Bucket=b, Key="src")["Body"].read(), b"copy me", "source kept")


@check(C, "copy: copy_object across buckets")
def _(ctx: Context) -> None:
    b1, b2 = s3_bucket(ctx, "src"), s3_bucket(ctx, "dst")
    s3(ctx).put_object(Bucket=b1, Key="k", Body=b"across")
    s3(ctx).copy_object(Bucket=b2, Key="k2", CopySource={"Bucket": b1, "Key": "k"})
    equal(s3(ctx).get_object(Bucket=b2, Key="k2")["Body"].read(), b"across", "copy")


@check(C, "copy: default directive COPY keeps Content-Type and user metadata")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="src", Body=b"x", ContentType="text/csv", Metadata={"a": "1"})
    s3(ctx).copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    head = s3(ctx).head_object(Bucket=b, Key="dst")
    equal(head["ContentType"], "text/csv", "ContentType")
    equal(head["Metadata"], {"a": "1"}, "Metadata")


@check(C, "copy: directive REPLACE sets new Content-Type and metadata")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="src", Body=b"x", ContentType="text/csv", Metadata={"a": "1"})
    s3(ctx).copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, MetadataDirective="REPLACE",
                        ContentType="application/json", Metadata={"b": "2"})
    head = s3(ctx).head_object(Bucket=b, Key="dst")
    equal(head["ContentType"], "application/json", "ContentType")
    equal(head["Metadata"], {"b": "2"}, "Metadata")


@check(C, "copy: a unicode source key (URL-encoded copy source) copies")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key=UNICODE_KEY, Body=b"uni")
    s3(ctx).copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": UNICODE_KEY})
    equal(s3(ctx).get_object(Bucket=b, Key="copied")["Body"].read(), b"uni", "copy")


@check(C, "copy: copying a missing source is 404 NoSuchKey")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    expect_error(lambda: s3(ctx).copy_object(Bucket=b, Key="d", CopySource={"Bucket": b, "Key": "none"}),
                 404, ("NoSuchKey",), "copy_object")


# --- multipart (low level) --------------------------------------------------------------


@check(C, "checksums: CRC64NVME and CRC32C uploads (the AWS CLI v2 default) are verified, stored, returned")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    body = payload(3 * MiB, "crc")
    for algorithm in ("CRC64NVME", "CRC32C"):
        s3(ctx).put_object(Bucket=b, Key=f"crc-{algorithm}", Body=body, ChecksumAlgorithm=algorithm)
        got = s3(ctx).get_object(Bucket=b, Key=f"crc-{algorithm}", ChecksumMode="ENABLED")
        equal(got["Body"].read(), body, f"{algorithm} body (boto3 validated the returned checksum)")
        ensure(bool(got.get(f"Checksum{algorithm}")), f"Checksum{algorithm} returned")
    expect_error(lambda: s3(ctx).put_object(Bucket=b, Key="crc-wrong", Body=body, ChecksumCRC64NVME="AAAAAAAAAAA="),
                 400, ("BadDigest",), "a wrong CRC64NVME")


@check(C, "multipart: a FULL_OBJECT CRC64NVME (the AWS CLI v2 default) is checked against the parts")
def _(ctx: Context) -> None:
    import base64

    from awscrt import checksums as crt

    b = s3_bucket(ctx)
    parts = [payload(5 * MiB, "f1"), payload(4321, "f2")]
    uid = s3(ctx).create_multipart_upload(Bucket=b, Key="full.bin", ChecksumAlgorithm="CRC64NVME",
                                          ChecksumType="FULL_OBJECT")["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        r = s3(ctx).upload_part(Bucket=b, Key="full.bin", UploadId=uid, PartNumber=number, Body=data,
                                ChecksumAlgorithm="CRC64NVME")
        done.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumCRC64NVME": r["ChecksumCRC64NVME"]})
    whole = base64.b64encode(crt.crc64nvme(b"".join(parts)).to_bytes(8, "big")).decode()
    expect_error(lambda: s3(ctx).complete_multipart_upload(
        Bucket=b, Key="full.bin", UploadId=uid, MultipartUpload={"Parts": done},
        ChecksumCRC64NVME="AAAAAAAAAAA=", ChecksumType="FULL_OBJECT"), 400, ("BadDigest",), "a wrong whole CRC")
    r = s3(ctx).complete_multipart_upload(Bucket=b, Key="full.bin", UploadId=uid, MultipartUpload={"Parts": done},
                                          ChecksumCRC64NVME=whole, ChecksumType="FULL_OBJECT")
    equal(r.get("ChecksumCRC64NVME"), whole, "ChecksumCRC64NVME of the completed object")
    head = s3(ctx).head_object(Bucket=b, Key="full.bin", ChecksumMode="ENABLED")
    equal(head.get("ChecksumCRC64NVME"), whole, "HeadObject ChecksumCRC64NVME")


def start_upload(ctx: Context, key: str = "mp.bin") -> tuple[str, str]:
    b = s3_bucket(ctx)
    up = s3(ctx).create_multipart_upload(Bucket=b, Key=key, ContentType="application/x-parts")
    return b, up["UploadId"]


@check(C, "multipart: create, upload two parts, complete gives the concatenation", timeout=180)
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx)
    p1, p2 = payload(5 * MiB, "p1"), payload(1234, "p2")
    e1 = s3(ctx).upload_part(Bucket=b, Key="mp.bin", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3(ctx).upload_part(Bucket=b, Key="mp.bin", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    equal(e1.strip('"'), md5_hex(p1), "part ETag is the part's MD5")
    s3(ctx).complete_multipart_upload(Bucket=b, Key="mp.bin", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    got = s3(ctx).get_object(Bucket=b, Key="mp.bin")
    equal(got["ContentLength"], len(p1) + len(p2), "size")
    ensure(got["Body"].read() == p1 + p2, "bytes are the parts in order")
    equal(got["ContentType"], "application/x-parts", "ContentType from create")


@check(C, "multipart: list_parts reports uploaded parts with sizes")
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx)
    s3(ctx).upload_part(Bucket=b, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"part-one")
    parts = s3(ctx).list_parts(Bucket=b, Key="mp.bin", UploadId=uid)["Parts"]
    equal([p["PartNumber"] for p in parts], [1], "PartNumbers")
    equal(parts[0]["ETag"].strip('"'), md5_hex(b"part-one"), "ETag")


@check(C, "multipart: list_multipart_uploads shows an upload in progress")
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx)
    ups = s3(ctx).list_multipart_uploads(Bucket=b).get("Uploads", [])
    ensure(any(u["UploadId"] == uid and u["Key"] == "mp.bin" for u in ups), f"upload listed: {ups}")


@check(C, "multipart: list_multipart_uploads rolls keys up into CommonPrefixes with a delimiter")
def _(ctx: Context) -> None:
    b, _ = start_upload(ctx, "dir/one.bin")
    for key in ("dir/two.bin", "top.bin"):
        s3(ctx).create_multipart_upload(Bucket=b, Key=key)
    page = s3(ctx).list_multipart_uploads(Bucket=b, Delimiter="/")
    equal([u["Key"] for u in page.get("Uploads", [])], ["top.bin"], "Uploads")
    equal([p["Prefix"] for p in page.get("CommonPrefixes", [])], ["dir/"], "CommonPrefixes")
    first = s3(ctx).list_multipart_uploads(Bucket=b, Delimiter="/", MaxUploads=1)
    ensure(first["IsTruncated"] and first["NextKeyMarker"] == "dir/", f"page of one: {first.get('NextKeyMarker')}")
    rest = s3(ctx).list_multipart_uploads(Bucket=b, Delimiter="/", KeyMarker="dir/")
    equal([u["Key"] for u in rest.get("Uploads", [])], ["top.bin"], "after the common prefix")


@check(C, "multipart: abort removes the upload; later parts are NoSuchUpload")
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx)
    s3(ctx).abort_multipart_upload(Bucket=b, Key="mp.bin", UploadId=uid)
    ups = s3(ctx).list_multipart_uploads(Bucket=b).get("Uploads", [])
    ensure(not any(u["UploadId"] == uid for u in ups), "upload no longer listed")
    expect_error(lambda: s3(ctx).upload_part(Bucket=b, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"x"),
                 404, ("NoSuchUpload",), "upload_part after abort")
    equal(s3(ctx).list_objects_v2(Bucket=b)["KeyCount"], 0, "no object created")


@check(C, "multipart: upload_part_copy with a byte range builds an object from another", timeout=180)
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx, "assembled")
    src = payload(6 * MiB, "src")
    s3(ctx).put_object(Bucket=b, Key="source", Body=src)
    r1 = s3(ctx).upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=1,
                                  CopySource={"Bucket": b, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    r2 = s3(ctx).upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=2,
                                  CopySource={"Bucket": b, "Key": "source"}, CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}")
    s3(ctx).complete_multipart_upload(Bucket=b, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    ensure(s3(ctx).get_object(Bucket=b, Key="assembled")["Body"].read() == src, "bytes equal the source")


@check(C, "multipart: completing with a wrong part ETag fails with InvalidPart")
def _(ctx: Context) -> None:
    b, uid = start_upload(ctx)
    s3(ctx).upload_part(Bucket=b, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"one")
    expect_error(lambda: s3(ctx).complete_multipart_upload(Bucket=b, Key="mp.bin", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]}), 400, ("InvalidPart",), "complete")


# --- delete -----------------------------------------------------------------------------


@check(C, "delete: delete_object removes the key")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="gone", Body=b"x")
    equal(s3(ctx).delete_object(Bucket=b, Key="gone")["ResponseMetadata"]["HTTPStatusCode"], 204, "status")
    expect_error(lambda: s3(ctx).get_object(Bucket=b, Key="gone"), 404, ("NoSuchKey",), "get after delete")


@check(C, "delete: deleting a missing key succeeds (204)")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    equal(s3(ctx).delete_object(Bucket=b, Key="never")["ResponseMetadata"]["HTTPStatusCode"], 204, "status")


@check(C, "delete: delete_objects removes a batch and reports each key as Deleted")
def _(ctx: Context) -> None:
    b = tree(ctx)
    ks = ["a.txt", "dir/b.txt", "dir/c.txt", "not-there"]
    out = s3(ctx).delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in ks]})
    equal(sorted(d["Key"] for d in out.get("Deleted", [])), sorted(ks), "Deleted keys")
    equal(out.get("Errors", []), [], "Errors")
    equal(keys(s3(ctx).list_objects_v2(Bucket=b)), ["dir/sub/d.txt", "other/e.txt"], "remaining keys")


@check(C, "delete: delete_objects in Quiet mode removes the keys")
def _(ctx: Context) -> None:
    b = tree(ctx)
    s3(ctx).delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a.txt"}, {"Key": "other/e.txt"}], "Quiet": True})
    equal(keys(s3(ctx).list_objects_v2(Bucket=b)), ["dir/b.txt", "dir/c.txt", "dir/sub/d.txt"], "remaining keys")


# --- tagging ----------------------------------------------------------------------------


@check(C, "tagging: put_object_tagging then get_object_tagging round-trips the TagSet")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="t", Body=b"tagged")
    tags = [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "storage"}]
    s3(ctx).put_object_tagging(Bucket=b, Key="t", Tagging={"TagSet": tags})
    got = s3(ctx).get_object_tagging(Bucket=b, Key="t")["TagSet"]
    equal(sorted(got, key=lambda t: t["Key"]), tags, "TagSet")
    equal(s3(ctx).get_object(Bucket=b, Key="t")["Body"].read(), b"tagged", "content untouched by tagging")


@check(C, "tagging: put_object with Tagging stores the tags")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="t", Body=b"x", Tagging="a=1&b=two")
    got = s3(ctx).get_object_tagging(Bucket=b, Key="t")["TagSet"]
    equal(sorted((t["Key"], t["Value"]) for t in got), [("a", "1"), ("b", "two")], "TagSet")


@check(C, "tagging: delete_object_tagging leaves an empty TagSet")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="t", Body=b"x", Tagging="a=1")
    s3(ctx).delete_object_tagging(Bucket=b, Key="t")
    equal(s3(ctx).get_object_tagging(Bucket=b, Key="t")["TagSet"], [], "TagSet")


@check(C, "tagging: tagging a missing key is 404 NoSuchKey")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    expect_error(lambda: s3(ctx).get_object_tagging(Bucket=b, Key="none"), 404, ("NoSuchKey",), "get_object_tagging")
    raises(lambda: s3(ctx).put_object_tagging(Bucket=b, Key="none", Tagging={"TagSet": []}), "put_object_tagging")
