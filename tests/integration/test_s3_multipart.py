"""S3 multipart uploads through boto3: the happy path, part copy, listing, and the
completion rules (order, ETags, minimum part size)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code

MiB = 1024 * 1024

admin = s3_support.admin  # the shared fixture
s3 = s3_support.s3  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture


def _etag_of_parts(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def test_multipart_upload(s3: Any, s3_bucket: str) -> None:
    parts = [b"a" * (5 * MiB), b"b" * 1234]
    mp = s3.create_multipart_upload(Bucket=s3_bucket, Key="mp/obj", ContentType="text/csv",
                                    Metadata={"k": "v"})
    uid = mp["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=s3_bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/obj", uid)]
    etags = [s3.upload_part(Bucket=s3_bucket, Key="mp/obj", UploadId=uid, PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    listed = s3.list_parts(Bucket=s3_bucket, Key="mp/obj", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, etags[0], 5 * MiB), (2, etags[1], 1234)]
    page = s3.list_parts(Bucket=s3_bucket, Key="mp/obj", UploadId=uid, MaxParts=1)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 1
    done = s3.complete_multipart_upload(Bucket=s3_bucket, Key="mp/obj", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    assert done["ETag"] == _etag_of_parts(parts)
    head = s3.head_object(Bucket=s3_bucket, Key="mp/obj")
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (5 * MiB + 1234, "text/csv",
                                                                             {"k": "v"})
    assert head["ETag"] == _etag_of_parts(parts)
    assert s3.get_object(Bucket=s3_bucket, Key="mp/obj", PartNumber=2)["Body"].read() == parts[1]
    attrs = s3.get_object_attributes(Bucket=s3_bucket, Key="mp/obj", ObjectAttributes=["ObjectParts"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    body = s3.get_object(Bucket=s3_bucket, Key="mp/obj")["Body"].read()
    assert hashlib.md5(body).hexdigest() == hashlib.md5(b"".join(parts)).hexdigest()
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3_bucket)


def test_upload_part_copy(s3: Any, s3_bucket: str) -> None:
    source = bytes(range(256)) * (6 * 4096)  # 6 MiB
    s3.put_object(Bucket=s3_bucket, Key="src", Body=source)
    uid = s3.create_multipart_upload(Bucket=s3_bucket, Key="dst")["UploadId"]
    first = s3.upload_part_copy(Bucket=s3_bucket, Key="dst", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": s3_bucket, "Key": "src"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(Bucket=s3_bucket, Key="dst", UploadId=uid, PartNumber=2,
                                 CopySource={"Bucket": s3_bucket, "Key": "src"},
                                 CopySourceRange=f"bytes={5 * MiB}-{len(source) - 1}")["CopyPartResult"]["ETag"]
    assert first == f'"{hashlib.md5(source[:5 * MiB]).hexdigest()}"'
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=s3_bucket, Key="dst", UploadId=uid, PartNumber=3,
                            CopySource={"Bucket": s3_bucket, "Key": "src"},
                            CopySourceRange=f"bytes=0-{len(source)}")
    assert error_code(exc.value)[0] == "InvalidRange"
    s3.complete_multipart_upload(Bucket=s3_bucket, Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    assert s3.get_object(Bucket=s3_bucket, Key="dst")["Body"].read() == source


def test_completion_rules_and_abort(s3: Any, s3_bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=s3_bucket, Key="rules")["UploadId"]
    small = [s3.upload_part(Bucket=s3_bucket, Key="rules", UploadId=uid, PartNumber=n, Body=b"x" * 10)["ETag"]
             for n in (1, 2)]

    def complete(parts: list[dict[str, Any]]) -> tuple[str, int]:
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket=s3_bucket, Key="rules", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
        return error_code(exc.value)

    assert complete([{"PartNumber": 2, "ETag": small[1]}, {"PartNumber": 1, "ETag": small[0]}]) == (
        "InvalidPartOrder", 400)
    assert complete([{"PartNumber": 1, "ETag": '"0123"'}]) == ("InvalidPart", 400)
    assert complete([{"PartNumber": 3, "ETag": small[0]}]) == ("InvalidPart", 400)
    assert complete([{"PartNumber": 1, "ETag": small[0]}, {"PartNumber": 2, "ETag": small[1]}]) == (
        "EntityTooSmall", 400)
    assert s3.abort_multipart_upload(Bucket=s3_bucket, Key="rules",
                                     UploadId=uid)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=s3_bucket, Key="rules", UploadId=uid)
    assert error_code(exc.value) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=s3_bucket, Key="rules", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(exc.value) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=s3_bucket, Key="rules")
    assert error_code(exc.value)[1] == 404


def _uploads_page(admin: Any, bucket: str, **params: Any) -> tuple[list[str], dict[str, Any]]:
    """Keys and common prefixes of one ListMultipartUploads page, in key order."""
    page = admin.list_multipart_uploads(Bucket=bucket, **params)
    entries = [u["Key"] for u in page.get("Uploads", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return sorted(entries), page


def test_list_multipart_uploads_with_delimiter(admin: Any, s3_bucket: str) -> None:
    """Keys with the delimiter after the prefix roll up into CommonPrefixes, which count
    towards MaxUploads; paging resumes after a common prefix without repeating it."""
    keys = ["a/1", "a/2", "b", "b", "c/x/y", "c/z", "d", "e f/g"]
    ids = [admin.create_multipart_upload(Bucket=s3_bucket, Key=k)["UploadId"] for k in keys]
    entries, page = _uploads_page(admin, s3_bucket, Delimiter="/")
    assert entries == ["a/", "b", "b", "c/", "d", "e f/"]
    assert page["Delimiter"] == "/" and not page["IsTruncated"]
    assert sorted(u["UploadId"] for u in page["Uploads"] if u["Key"] == "b") == sorted(ids[2:4])

    seen: list[str] = []
    params: dict[str, Any] = {"Delimiter": "/", "MaxUploads": 2}
    for _ in range(10):
        entries, page = _uploads_page(admin, s3_bucket, **params)
        assert len(entries) <= 2
        seen += entries
        if not page["IsTruncated"]:
            break
        params.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page.get("NextUploadIdMarker", ""))
    assert seen == ["a/", "b", "b", "c/", "d", "e f/"]

    entries, _ = _uploads_page(admin, s3_bucket, Prefix="c/", Delimiter="/")
    assert entries == ["c/x/", "c/z"]
    entries, page = _uploads_page(admin, s3_bucket, Delimiter="/", KeyMarker="c/")
    assert entries == ["d", "e f/"]
    raw = admin.list_multipart_uploads(Bucket=s3_bucket, Delimiter="/", EncodingType="url")
    assert "e%20f/" in [p["Prefix"] for p in raw["CommonPrefixes"]]
    assert sorted(u["Key"] for u in admin.list_multipart_uploads(Bucket=s3_bucket)["Uploads"]) == sorted(keys)
    for key, upload_id in zip(keys, ids, strict=True):
        admin.abort_multipart_upload(Bucket=s3_bucket, Key=key, UploadId=upload_id)


def test_full_object_crc64nvme_checksum(admin: Any, s3_bucket: str) -> None:
    """A multipart upload with a FULL_OBJECT CRC64NVME (what the AWS CLI v2 sends): the
    object's CRC is checked against the combination of the parts' CRCs at completion,
    stored and returned; a wrong one is BadDigest and leaves the upload open. An upload
    created without an algorithm whose parts carry other CRCs cannot back a CRC64NVME
    claim (InvalidRequest)."""
    import base64

    from awscrt import checksums as crt

    parts = [b"a" * (5 * MiB), bytes(range(256)) * 40]
    whole = base64.b64encode(crt.crc64nvme(b"".join(parts)).to_bytes(8, "big")).decode()

    def start(key: str, *, with_part_crcs: bool = True) -> tuple[str, list[dict[str, Any]]]:
        algorithm = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"} if with_part_crcs else {}
        uid = admin.create_multipart_upload(Bucket=s3_bucket, Key=key, **algorithm)["UploadId"]
        done = []
        for number, data in enumerate(parts, start=1):
            extra = {"ChecksumAlgorithm": "CRC64NVME"} if with_part_crcs else {}
            r = admin.upload_part(Bucket=s3_bucket, Key=key, UploadId=uid, PartNumber=number, Body=data, **extra)
            done.append({"PartNumber": number, "ETag": r["ETag"],
                         **({"ChecksumCRC64NVME": r["ChecksumCRC64NVME"]} if "ChecksumCRC64NVME" in r else {})})
        return uid, done

    uid, done = start("full")
    wrong = base64.b64encode(bytes(8)).decode()
    with pytest.raises(ClientError) as exc:
        admin.complete_multipart_upload(Bucket=s3_bucket, Key="full", UploadId=uid, MultipartUpload={"Parts": done},
                                        ChecksumCRC64NVME=wrong, ChecksumType="FULL_OBJECT")
    assert error_code(exc.value) == ("BadDigest", 400)
    listed = admin.list_parts(Bucket=s3_bucket, Key="full", UploadId=uid)["Parts"]  # still open
    assert [p["ChecksumCRC64NVME"] for p in listed] == [p["ChecksumCRC64NVME"] for p in done]
    result = admin.complete_multipart_upload(Bucket=s3_bucket, Key="full", UploadId=uid,
                                             MultipartUpload={"Parts": done}, ChecksumCRC64NVME=whole,
                                             ChecksumType="FULL_OBJECT")
    assert (result["ChecksumCRC64NVME"], result["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = admin.head_object(Bucket=s3_bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == whole and head["ContentLength"] == sum(map(len, parts))
    got = admin.get_object(Bucket=s3_bucket, Key="full", ChecksumMode="ENABLED")  # boto3 checks it too
    assert got["Body"].read() == b"".join(parts)

    uid, done = start("unverifiable", with_part_crcs=False)
    with pytest.raises(ClientError) as exc:
        admin.complete_multipart_upload(Bucket=s3_bucket, Key="unverifiable", UploadId=uid,
                                        MultipartUpload={"Parts": done}, ChecksumCRC64NVME=whole,
                                        ChecksumType="FULL_OBJECT")
    assert error_code(exc.value) == ("InvalidRequest", 400)
    admin.abort_multipart_upload(Bucket=s3_bucket, Key="unverifiable", UploadId=uid)
