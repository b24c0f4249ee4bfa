"""Multipart, checksum and conditional details as AWS answers them (issue 16, item 8):
a retried CompleteMultipartUpload, conditional completion, partNumber beyond the last
part, the checksum an upload chooses (echoed, kept per part, combined at completion,
shown by HeadObject and GetObjectAttributes with paging), malformed against wrong
checksums, and the headers of a 304."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import types
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from lxml import etree

from s3proxy.auth.principal import Principal
from s3proxy.db.scope import Database
from s3proxy.storage.completion import sweep_completed_uploads
from s3proxy.storage.context import Ctx
from tests.integration import s3_support
from tests.integration.s3_support import error_code, s3_client
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture

MiB = 1024 * 1024
PARTS = [bytes(range(256)) * (5 * 4096), b"tail of the object" * 100]  # 5 MiB + 1,800 bytes


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def upload_parts(client: Any, bucket: str, key: str, **create: Any) -> tuple[str, list[dict[str, Any]]]:
    """Create an upload and send PARTS; the parts as CompleteMultipartUpload lists them."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    algorithm = create.get("ChecksumAlgorithm")
    done = []
    for number, data in enumerate(PARTS, start=1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra)
        part = {"PartNumber": number, "ETag": r["ETag"]}
        if algorithm:
            part[f"Checksum{algorithm}"] = r[f"Checksum{algorithm}"]
        done.append(part)
    return upload_id, done


def complete(client: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], **extra: Any) -> Any:
    return client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                            MultipartUpload={"Parts": parts}, **extra)


def result(done: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in done.items() if k != "ResponseMetadata"}


# --- a retried completion ----------------------------------------------------------------


def sweep(server: Server, older_than: timedelta) -> int:
    async def run() -> int:
        db = Database(server.database_url, max_size=1)
        store = types.SimpleNamespace(settings=types.SimpleNamespace(db_service_role="service_role"), db=db)
        try:
            return await sweep_completed_uploads(Ctx(store, Principal.service(), "test.sweep"),  # type: ignore[arg-type]
                                                 older_than)
        finally:
            await db.close()

    return asyncio.run(run())


def test_a_repeated_completion_answers_the_same(server: Server, admin: Any, s3_bucket: str) -> None:
    """An SDK that lost the first answer completes again: 200 with the same result. A
    different part list, or someone else, is still NoSuchUpload; so is everything once
    the sweep removed the record."""
    upload_id, parts = upload_parts(admin, s3_bucket, "again")
    first = complete(admin, s3_bucket, "again", upload_id, parts)
    second = complete(admin, s3_bucket, "again", upload_id, parts)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result(second) == result(first)
    assert admin.get_object(Bucket=s3_bucket, Key="again")["Body"].read() == b"".join(PARTS)
    for call in (lambda: complete(admin, s3_bucket, "again", upload_id, parts[:1]),
                 lambda: admin.list_parts(Bucket=s3_bucket, Key="again", UploadId=upload_id),
                 lambda: admin.upload_part(Bucket=s3_bucket, Key="again", UploadId=upload_id, PartNumber=3,
                                           Body=b"late"),
                 lambda: complete(admin, s3_bucket, "other-key", upload_id, parts)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc.value) == ("NoSuchUpload", 404)
    user = s3_client(server, token=server.token("authenticated", sub=str(uuid.uuid4())))
    with pytest.raises(ClientError) as exc:
        complete(user, s3_bucket, "again", upload_id, parts)
    assert error_code(exc.value) == ("NoSuchUpload", 404)
    server.sql("UPDATE storage.s3proxy_completed_uploads SET completed_at = now() - interval '2 days',"
               " started_at = now() - interval '2 days' WHERE upload_id = $1", upload_id)
    assert sweep(server, timedelta(days=1)) >= 1
    assert server.sql("SELECT 1 FROM storage.s3proxy_completed_uploads WHERE upload_id = $1", upload_id) == []
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "again", upload_id, parts)
    assert error_code(exc.value) == ("NoSuchUpload", 404)


def test_completions_racing_one_upload(server: Server, s3_bucket: str) -> None:
    """Four completions of one upload at once (an SDK retrying while the first still
    runs): each answers the one result or OperationAborted (retry), the object is whole,
    and a retry afterwards answers the result."""
    import threading

    client = s3_client(server)
    upload_id, parts = upload_parts(client, s3_bucket, "raced")
    answers: list[Any] = []
    go = threading.Barrier(4)

    def run() -> None:
        own = s3_client(server)
        go.wait()
        try:
            answers.append(result(complete(own, s3_bucket, "raced", upload_id, parts)))
        except ClientError as exc:
            answers.append(error_code(exc))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    final = result(complete(client, s3_bucket, "raced", upload_id, parts))
    assert all(a == final or a == ("OperationAborted", 409) for a in answers), [a for a in answers if a != final]
    assert final in answers
    assert client.get_object(Bucket=s3_bucket, Key="raced")["Body"].read() == b"".join(PARTS)


# --- conditional completion ----------------------------------------------------------------


def test_conditional_completion(admin: Any, s3_bucket: str) -> None:
    admin.put_object(Bucket=s3_bucket, Key="taken", Body=b"first")
    upload_id, parts = upload_parts(admin, s3_bucket, "taken")
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "taken", upload_id, parts, IfNoneMatch="*")
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "taken", upload_id, parts, IfMatch='"00000000000000000000000000000000"')
    assert error_code(exc.value) == ("PreconditionFailed", 412)
    assert admin.get_object(Bucket=s3_bucket, Key="taken")["Body"].read() == b"first"
    assert len(admin.list_parts(Bucket=s3_bucket, Key="taken", UploadId=upload_id)["Parts"]) == 2  # still open
    current = admin.head_object(Bucket=s3_bucket, Key="taken")["ETag"]
    complete(admin, s3_bucket, "taken", upload_id, parts, IfMatch=current)
    assert admin.get_object(Bucket=s3_bucket, Key="taken")["Body"].read() == b"".join(PARTS)

    upload_id, parts = upload_parts(admin, s3_bucket, "fresh")
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "fresh", upload_id, parts, IfMatch='"0123"')
    assert error_code(exc.value) == ("NoSuchKey", 404)
    complete(admin, s3_bucket, "fresh", upload_id, parts, IfNoneMatch="*")
    assert admin.head_object(Bucket=s3_bucket, Key="fresh")["ContentLength"] == sum(map(len, PARTS))


# --- partNumber beyond the last part ---------------------------------------------------------


def test_part_number_beyond_the_last(server: Server, admin: Any, s3_bucket: str) -> None:
    """AWS: 416 InvalidPartNumber, naming the part asked for and the count."""
    upload_id, parts = upload_parts(admin, s3_bucket, "two")
    complete(admin, s3_bucket, "two", upload_id, parts)
    admin.put_object(Bucket=s3_bucket, Key="one", Body=b"single")
    for key, number, count in (("two", 3, 2), ("one", 2, 1)):
        with pytest.raises(ClientError) as exc:
            admin.get_object(Bucket=s3_bucket, Key=key, PartNumber=number)
        assert error_code(exc.value) == ("InvalidPartNumber", 416)
        assert exc.value.response["Error"]["Message"] == "The requested partnumber is not satisfiable"
        with pytest.raises(ClientError) as exc:
            admin.head_object(Bucket=s3_bucket, Key=key, PartNumber=number)
        assert error_code(exc.value)[1] == 416
        url = admin.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": key,
                                                                 "PartNumber": number})
        root = etree.fromstring(httpx.get(url).content)
        assert (root.findtext("PartNumberRequested"), root.findtext("ActualPartCount")) == (str(number), str(count))
    assert admin.get_object(Bucket=s3_bucket, Key="two", PartNumber=2)["Body"].read() == PARTS[1]


# --- the upload's checksum --------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "asked", "kind"), [
    ("SHA256", None, "COMPOSITE"), ("SHA1", "COMPOSITE", "COMPOSITE"), ("CRC32", None, "COMPOSITE"),
    ("CRC32C", "FULL_OBJECT", "FULL_OBJECT"), ("CRC64NVME", None, "FULL_OBJECT"),
])
def test_create_echoes_the_checksum(admin: Any, s3_bucket: str, algorithm: str, asked: str | None,
                                    kind: str) -> None:
    extra = {"ChecksumType": asked} if asked else {}
    created = admin.create_multipart_upload(Bucket=s3_bucket, Key="c", ChecksumAlgorithm=algorithm, **extra)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, kind)
    listed = admin.list_parts(Bucket=s3_bucket, Key="c", UploadId=created["UploadId"])
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, kind)
    admin.abort_multipart_upload(Bucket=s3_bucket, Key="c", UploadId=created["UploadId"])


@pytest.mark.parametrize(("create", "message"), [
    ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
     "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
    ({"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"},
     "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
    ({"ChecksumType": "COMPOSITE"},
     "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."),
])
def test_create_refuses_impossible_checksums(admin: Any, s3_bucket: str, create: dict[str, str],
                                             message: str) -> None:
    with pytest.raises(ClientError) as exc:
        admin.create_multipart_upload(Bucket=s3_bucket, Key="c", **create)
    assert error_code(exc.value) == ("InvalidRequest", 400)
    assert exc.value.response["Error"]["Message"] == message


def test_composite_sha256(server: Server, admin: Any, s3_bucket: str) -> None:
    """SHA256 (COMPOSITE): parts keep their SHA-256; the completion must list them and
    returns sha256(part digests)-2; HeadObject and GetObject (whole and per part) and
    GetObjectAttributes (paged) show it."""
    digests = [hashlib.sha256(p).digest() for p in PARTS]
    expected = b64(hashlib.sha256(b"".join(digests)).digest()) + "-2"
    upload_id, parts = upload_parts(admin, s3_bucket, "sha", ChecksumAlgorithm="SHA256")
    assert [p["ChecksumSHA256"] for p in parts] == [b64(d) for d in digests]
    with pytest.raises(ClientError) as exc:  # boto3 adds CRC32 to a part unless told the upload's algorithm
        admin.upload_part(Bucket=s3_bucket, Key="sha", UploadId=upload_id, PartNumber=3, Body=b"crc")
    assert error_code(exc.value) == ("InvalidRequest", 400)
    assert exc.value.response["Error"]["Message"] == ("Checksum Type mismatch occurred, expected checksum Type: "
                                                      "sha256, actual checksum Type: crc32")
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "sha", upload_id, bare)
    assert error_code(exc.value) == ("InvalidRequest", 400)
    assert "It was missing for part 1 in the request" in exc.value.response["Error"]["Message"]
    wrong = [dict(parts[0], ChecksumSHA256=b64(bytes(32))), parts[1]]
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "sha", upload_id, wrong)
    assert error_code(exc.value) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as exc:
        complete(admin, s3_bucket, "sha", upload_id, parts, ChecksumType="FULL_OBJECT")
    assert error_code(exc.value) == ("InvalidRequest", 400)
    done = complete(admin, s3_bucket, "sha", upload_id, parts)
    assert (done["ChecksumSHA256"], done["ChecksumType"]) == (expected, "COMPOSITE")

    head = admin.head_object(Bucket=s3_bucket, Key="sha", ChecksumMode="ENABLED")
    assert (head["ChecksumSHA256"], head["ChecksumType"]) == (expected, "COMPOSITE")
    got = admin.get_object(Bucket=s3_bucket, Key="sha", PartNumber=2, ChecksumMode="ENABLED")  # boto3 verifies
    assert got["ChecksumSHA256"] == b64(digests[1]) and got["Body"].read() == PARTS[1]
    attrs = admin.get_object_attributes(Bucket=s3_bucket, Key="sha", ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"] == {"ChecksumSHA256": expected, "ChecksumType": "COMPOSITE"}
    whole = attrs["ObjectParts"]
    assert (whole["TotalPartsCount"], whole["IsTruncated"], whole["MaxParts"]) == (2, False, 1000)
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in whole["Parts"]] == [
        (1, len(PARTS[0]), b64(digests[0])), (2, len(PARTS[1]), b64(digests[1]))]
    first = admin.get_object_attributes(Bucket=s3_bucket, Key="sha", ObjectAttributes=["ObjectParts"], MaxParts=1)
    page = first["ObjectParts"]
    assert (page["IsTruncated"], page["NextPartNumberMarker"], [p["PartNumber"] for p in page["Parts"]]) == (
        True, 1, [1])
    rest = admin.get_object_attributes(Bucket=s3_bucket, Key="sha", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                       PartNumberMarker=page["NextPartNumberMarker"])["ObjectParts"]
    assert (rest["IsTruncated"], rest["PartNumberMarker"], [p["PartNumber"] for p in rest["Parts"]]) == (
        False, 1, [2])


def test_parts_sent_without_a_checksum_get_one(server: Server, s3_bucket: str) -> None:
    """An upload that chose CRC32C, parts sent with no checksum at all: each part's CRC32C
    is computed here, returned by UploadPart and ListParts, and combined at completion
    (FULL_OBJECT), also when the completion claims the right value; a wrong claim is
    BadDigest."""
    from awscrt import checksums as crt

    plain = s3_client(server, mode="when_required")
    upload_id = plain.create_multipart_upload(Bucket=s3_bucket, Key="crc", ChecksumAlgorithm="CRC32C",
                                              ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for number, data in enumerate(PARTS, start=1):
        r = plain.upload_part(Bucket=s3_bucket, Key="crc", UploadId=upload_id, PartNumber=number, Body=data)
        assert r["ChecksumCRC32C"] == b64(crt.crc32c(data).to_bytes(4, "big"))
        parts.append({"PartNumber": number, "ETag": r["ETag"]})
    listed = plain.list_parts(Bucket=s3_bucket, Key="crc", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32C"] for p in listed] == [b64(crt.crc32c(d).to_bytes(4, "big")) for d in PARTS]
    whole = b64(crt.crc32c(b"".join(PARTS)).to_bytes(4, "big"))
    with pytest.raises(ClientError) as exc:
        complete(plain, s3_bucket, "crc", upload_id, parts, ChecksumCRC32C=b64(bytes(4)))
    assert error_code(exc.value) == ("BadDigest", 400)
    done = complete(plain, s3_bucket, "crc", upload_id, parts, ChecksumCRC32C=whole)
    assert (done["ChecksumCRC32C"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    got = plain.get_object(Bucket=s3_bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32C"] == whole and got["Body"].read() == b"".join(PARTS)


def test_boto3_transfer_manager_upload(server: Server, s3_bucket: str, tmp_path: Any) -> None:
    """boto3's managed upload (what aws-cli's cp does): CRC32, COMPOSITE by default, part
    CRCs listed in the completion; the object's checksum is crc32(part CRCs)-N."""
    client = s3_client(server)
    data = b"".join(PARTS) * 2
    source = tmp_path / "f.bin"
    source.write_bytes(data)
    client.upload_file(str(source), s3_bucket, "managed",
                       Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    head = client.head_object(Bucket=s3_bucket, Key="managed", ChecksumMode="ENABLED")
    chunks = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    crcs = b"".join(zlib.crc32(c).to_bytes(4, "big") for c in chunks)
    assert head["ChecksumCRC32"] == f"{b64(zlib.crc32(crcs).to_bytes(4, 'big'))}-{len(chunks)}"
    assert head["ChecksumType"] == "COMPOSITE"
    assert client.get_object(Bucket=s3_bucket, Key="managed")["Body"].read() == data


# --- malformed and wrong checksums ------------------------------------------------------------


@pytest.mark.parametrize("operation", ["PutObject", "UploadPart"])
def test_malformed_and_wrong_checksums(admin: Any, s3_bucket: str, operation: str) -> None:
    """A value that is not base64 of the algorithm's size: InvalidRequest 'Value for
    x-amz-checksum-<alg> header is invalid.'; a well-formed one that is not the body's:
    BadDigest 'The <ALG> you specified did not match the calculated checksum.'"""
    upload_id = admin.create_multipart_upload(Bucket=s3_bucket, Key="u")["UploadId"]

    def send(**checksum: str) -> None:
        if operation == "PutObject":
            admin.put_object(Bucket=s3_bucket, Key="p", Body=b"payload", **checksum)
        else:
            admin.upload_part(Bucket=s3_bucket, Key="u", UploadId=upload_id, PartNumber=1, Body=b"payload",
                              **checksum)

    for name, malformed, wrong in (("SHA256", "not base64!", b64(bytes(32))), ("CRC32", b64(bytes(8)), "AAAAAA=="),
                                   ("SHA1", "AAAA", b64(bytes(20))), ("CRC32C", "=====", b64(b"\x01\x02\x03\x04"))):
        with pytest.raises(ClientError) as exc:
            send(**{f"Checksum{name}": malformed})
        assert error_code(exc.value) == ("InvalidRequest", 400)
        assert exc.value.response["Error"]["Message"] == f"Value for x-amz-checksum-{name.lower()} header is invalid."
        with pytest.raises(ClientError) as exc:
            send(**{f"Checksum{name}": wrong})
        assert error_code(exc.value) == ("BadDigest", 400)
        assert exc.value.response["Error"]["Message"] == f"The {name} you specified did not match the calculated " \
                                                         "checksum."
    admin.abort_multipart_upload(Bucket=s3_bucket, Key="u", UploadId=upload_id)


# --- 304 ---------------------------------------------------------------------------------------


def test_not_modified_carries_etag_and_last_modified(admin: Any, s3_bucket: str) -> None:
    etag = admin.put_object(Bucket=s3_bucket, Key="n", Body=b"not modified")["ETag"]
    modified = admin.head_object(Bucket=s3_bucket, Key="n")["LastModified"]
    later = datetime.now(UTC) + timedelta(days=1)
    for call in (lambda: admin.get_object(Bucket=s3_bucket, Key="n", IfNoneMatch=etag),
                 lambda: admin.head_object(Bucket=s3_bucket, Key="n", IfNoneMatch=etag),
                 lambda: admin.get_object(Bucket=s3_bucket, Key="n", IfModifiedSince=later)):
        with pytest.raises(ClientError) as exc:
            call()
        headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
        assert headers["etag"] == etag
        assert headers["last-modified"] == modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
