"""S3 buckets and objects through boto3: every operation, with botocore's default
checksums and with `when_required`, on both backends, path-style, virtual-host style
and under /s3 on the main port."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code, s3_client
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3 = s3_support.s3  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture


def test_bucket_lifecycle(s3: Any) -> None:
    name = f"s3b-{uuid.uuid4().hex[:8]}"
    assert s3.create_bucket(Bucket=name)["Location"] == f"/{name}"
    assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200  # us-east-1's rule
    s3.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    page = s3.list_buckets(Prefix=name, MaxBuckets=1)
    assert [b["Name"] for b in page["Buckets"]] == [name]
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None  # us-east-1
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    acl = s3.get_bucket_acl(Bucket=name)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    s3.put_object(Bucket=name, Key="x", Body=b"1")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_code(exc.value) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert error_code(exc.value)[1] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert error_code(exc.value) == ("NoSuchBucket", 404)


def test_list_buckets_pagination(s3: Any, admin: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    names = [f"pg-{tag}-{i}" for i in range(3)]
    for n in names:
        admin.create_bucket(Bucket=n)
    try:
        first = s3.list_buckets(Prefix=f"pg-{tag}", MaxBuckets=2)
        assert [b["Name"] for b in first["Buckets"]] == names[:2]
        second = s3.list_buckets(Prefix=f"pg-{tag}", MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in second["Buckets"]] == names[2:]
        assert "ContinuationToken" not in second
    finally:
        for n in names:
            admin.delete_bucket(Bucket=n)


def test_public_read_acl_makes_public_bucket(s3: Any, server: Server) -> None:
    name = f"pub-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ACL="public-read")
    try:
        assert server.sql("SELECT public FROM storage.buckets WHERE id = $1", name) == [{"public": True}]
    finally:
        s3.delete_bucket(Bucket=name)


def test_put_get_head_with_metadata(s3: Any, s3_bucket: str) -> None:
    body = b"hello world" * 1000
    put = s3.put_object(Bucket=s3_bucket, Key="dir/ü ñ+%.txt", Body=body, ContentType="text/plain",
                        CacheControl="max-age=60", ContentDisposition='attachment; filename="a.txt"',
                        ContentLanguage="de", ContentEncoding="identity", Expires=datetime(2030, 1, 1, tzinfo=UTC),
                        Metadata={"plain": "v", "utf": "=?UTF-8?B?w7zkuK0=?="}, Tagging="a=1&b=2")
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=s3_bucket, Key="dir/ü ñ+%.txt")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert got["ContentLanguage"] == "de"
    assert got["ContentEncoding"] == "identity"
    assert got["Metadata"] == {"plain": "v", "utf": "=?UTF-8?B?w7zkuK0=?="}
    assert got["TagCount"] == 2
    head = s3.head_object(Bucket=s3_bucket, Key="dir/ü ñ+%.txt")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == etag
    assert head["Metadata"]["utf"] == "=?UTF-8?B?w7zkuK0=?="
    assert head["Expires"].year == 2030 if "Expires" in head else head["ExpiresString"].endswith("GMT")


def test_get_ranges_conditions_and_overrides(s3: Any, s3_bucket: str) -> None:
    body = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=s3_bucket, Key="r", Body=body)["ETag"]
    part = s3.get_object(Bucket=s3_bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert s3.get_object(Bucket=s3_bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error_code(exc.value) == ("InvalidRange", 416)
    assert s3.get_object(Bucket=s3_bucket, Key="r", IfMatch=etag)["ContentLength"] == len(body)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="r", IfMatch='"nope"')
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="r", IfNoneMatch=etag)
    assert error_code(exc.value)[1] == 304
    future = datetime.now(UTC) + timedelta(days=1)
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="r", IfModifiedSince=future)
    assert error_code(exc.value)[1] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="r", IfUnmodifiedSince=past)
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    # If-Match wins over If-Unmodified-Since (AWS precedence)
    assert s3.get_object(Bucket=s3_bucket, Key="r", IfMatch=etag, IfUnmodifiedSince=past)["ContentLength"]
    got = s3.get_object(Bucket=s3_bucket, Key="r", ResponseContentType="image/png",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-store")
    assert (got["ContentType"], got["ContentDisposition"], got["CacheControl"]) == ("image/png", "inline",
                                                                                    "no-store")
    assert s3.get_object(Bucket=s3_bucket, Key="r", PartNumber=1)["ContentLength"] == len(body)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=s3_bucket, Key="missing")
    assert error_code(exc.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=s3_bucket, Key="missing")
    assert error_code(exc.value)[1] == 404


def test_conditional_writes_and_delete(s3: Any, s3_bucket: str) -> None:
    first = s3.put_object(Bucket=s3_bucket, Key="c", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=s3_bucket, Key="c", Body=b"two", IfNoneMatch="*")
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=s3_bucket, Key="c", Body=b"two", IfMatch='"0000"')
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=s3_bucket, Key="c", Body=b"two", IfMatch=first)
    assert s3.get_object(Bucket=s3_bucket, Key="c")["Body"].read() == b"two"
    s3.put_object(Bucket=s3_bucket, Key="c", Body=b"three", IfMatch="*")
    assert s3.get_object(Bucket=s3_bucket, Key="c")["Body"].read() == b"three"
    with pytest.raises(ClientError) as exc:  # If-Match needs an object to match
        s3.put_object(Bucket=s3_bucket, Key="c-missing", Body=b"x", IfMatch="*")
    assert error_code(exc.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=s3_bucket, Key="c-missing")
    assert s3.delete_object(Bucket=s3_bucket, Key="c")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=s3_bucket, Key="c")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=f"no-{uuid.uuid4().hex[:6]}", Key="c")
    assert error_code(exc.value) == ("NoSuchBucket", 404)


def test_delete_objects(s3: Any, s3_bucket: str) -> None:
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=s3_bucket, Key=k, Body=k.encode())
    out = s3.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "b", "zz"]
    quiet = s3.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_bucket)
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert error_code(exc.value) == ("MalformedXML", 400)


def test_copy_object(s3: Any, s3_bucket: str, admin: Any) -> None:
    s3.put_object(Bucket=s3_bucket, Key="src ü+", Body=b"data", ContentType="text/x", Metadata={"m": "1"},
                  Tagging="t=1")
    out = s3.copy_object(Bucket=s3_bucket, Key="dst", CopySource={"Bucket": s3_bucket, "Key": "src ü+"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"data").hexdigest()}"'
    head = s3.head_object(Bucket=s3_bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/x", {"m": "1"})
    assert s3.get_object_tagging(Bucket=s3_bucket, Key="dst")["TagSet"] == [{"Key": "t", "Value": "1"}]
    s3.copy_object(Bucket=s3_bucket, Key="dst2", CopySource=f"{s3_bucket}/src ü+", MetadataDirective="REPLACE",
                   ContentType="text/y", Metadata={"n": "2"}, TaggingDirective="REPLACE", Tagging="u=2")
    head = s3.head_object(Bucket=s3_bucket, Key="dst2")
    assert (head["ContentType"], head["Metadata"]) == ("text/y", {"n": "2"})
    assert s3.get_object_tagging(Bucket=s3_bucket, Key="dst2")["TagSet"] == [{"Key": "u", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=s3_bucket, Key="dst3", CopySource={"Bucket": s3_bucket, "Key": "src ü+"},
                       CopySourceIfMatch='"nope"')
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=s3_bucket, Key="dst", CopySource={"Bucket": s3_bucket, "Key": "dst"})
    assert error_code(exc.value) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=s3_bucket, Key="d", CopySource={"Bucket": s3_bucket, "Key": "missing"})
    assert error_code(exc.value) == ("NoSuchKey", 404)


def test_tagging_and_attributes(s3: Any, s3_bucket: str) -> None:
    s3.put_object(Bucket=s3_bucket, Key="t", Body=b"12345")
    assert s3.get_object_tagging(Bucket=s3_bucket, Key="t")["TagSet"] == []
    s3.put_object_tagging(Bucket=s3_bucket, Key="t", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object_tagging(Bucket=s3_bucket, Key="t")["TagSet"] == [{"Key": "a", "Value": "b"}]
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=s3_bucket, Key="t",
                              Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert error_code(exc.value) == ("InvalidTag", 400)
    s3.delete_object_tagging(Bucket=s3_bucket, Key="t")
    assert s3.get_object_tagging(Bucket=s3_bucket, Key="t")["TagSet"] == []
    attrs = s3.get_object_attributes(Bucket=s3_bucket, Key="t", ObjectAttributes=["ETag", "ObjectSize",
                                                                                    "StorageClass"])
    assert (attrs["ETag"], attrs["ObjectSize"], attrs["StorageClass"]) == (
        hashlib.md5(b"12345").hexdigest(), 5, "STANDARD")
    assert s3.get_object_acl(Bucket=s3_bucket, Key="t")["Grants"][0]["Permission"] == "FULL_CONTROL"
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=s3_bucket, Key="missing")
    assert error_code(exc.value) == ("NoSuchKey", 404)


def test_checksum_is_stored_and_returned(server: Server, s3_bucket: str) -> None:
    client = s3_client(server)
    client.put_object(Bucket=s3_bucket, Key="ck", Body=b"abc", ChecksumAlgorithm="SHA256")
    got = client.get_object(Bucket=s3_bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"abc"
    assert got["ChecksumSHA256"] == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    attrs = client.get_object_attributes(Bucket=s3_bucket, Key="ck", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"]["ChecksumSHA256"] == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32C"])
def test_crc64nvme_and_crc32c_uploads(server: Server, s3_bucket: str, algorithm: str) -> None:
    """The AWS CLI v2 sends CRC64NVME with every upload: a multi-MiB body streams through
    the check (in a header or an aws-chunked trailer, whichever the client chose), the value is stored and
    returned, and a wrong one is BadDigest with nothing stored."""
    from awscrt import checksums as crt

    client = s3_client(server)
    body = bytes(range(256)) * (12 * 4096)  # 12 MiB
    value = (crt.crc64nvme(body).to_bytes(8, "big") if algorithm == "CRC64NVME"
             else crt.crc32c(body).to_bytes(4, "big"))
    expected = base64.b64encode(value).decode()
    client.put_object(Bucket=s3_bucket, Key="crc", Body=body, ChecksumAlgorithm=algorithm)
    got = client.get_object(Bucket=s3_bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == expected
    wrong = base64.b64encode(bytes(len(value))).decode()
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=s3_bucket, Key="crc-wrong", Body=body, **{f"Checksum{algorithm}": wrong})
    assert error_code(exc.value) == ("BadDigest", 400)
    with pytest.raises(ClientError) as exc:
        client.head_object(Bucket=s3_bucket, Key="crc-wrong")
    assert error_code(exc.value) == ("404", 404)


def test_unsupported_subresources_are_not_implemented(server: Server, s3_bucket: str, admin: Any) -> None:
    admin.put_object(Bucket=s3_bucket, Key="k", Body=b"keep")
    for call in (lambda: admin.get_bucket_policy(Bucket=s3_bucket),
                 lambda: admin.get_bucket_lifecycle_configuration(Bucket=s3_bucket),
                 lambda: admin.get_bucket_website(Bucket=s3_bucket)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc.value) == ("NotImplemented", 501)
    assert admin.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"keep"


def test_virtual_host_style(server: Server, s3_bucket: str) -> None:
    port = server.s3_url.rsplit(":", 1)[1]
    client = s3_client(server, style="virtual", endpoint=f"http://localhost:{port}", pin_host=True)
    client.put_object(Bucket=s3_bucket, Key="v/h.txt", Body=b"vhost")
    assert client.get_object(Bucket=s3_bucket, Key="v/h.txt")["Body"].read() == b"vhost"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["v/h.txt"]
    # and the server really saw the bucket in the Host header
    seen: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: seen.append(request.headers["Host"]))
    client.head_object(Bucket=s3_bucket, Key="v/h.txt")
    assert seen[-1].startswith(f"{s3_bucket}.localhost:")


def test_main_port_prefix(server: Server, s3_bucket: str) -> None:
    client = s3_client(server, endpoint=server.url + "s3")
    client.put_object(Bucket=s3_bucket, Key="via-main", Body=b"main")
    assert client.get_object(Bucket=s3_bucket, Key="via-main")["Body"].read() == b"main"
    assert s3_bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_error_document_shape(server: Server) -> None:
    r = httpx.get(server.s3_url + "/no-such-bucket-xyz?list-type=2")  # anonymous: as AWS, the bucket is missing
    assert r.status_code == 404
    assert b"<Code>NoSuchBucket</Code>" in r.content
    assert b"xmlns" not in r.content.split(b"<Error>")[0].split(b"?>")[-1]
    assert b"<RequestId>" in r.content and b"<Resource>/no-such-bucket-xyz</Resource>" in r.content
