"""Wire edges as AWS answers them (issue 16, item 7): presigned URLs out of range or
spent, non-ASCII user metadata (raw UTF-8 and RFC 2047), object requests in a deleted
bucket, listing echoes of prefixes with line breaks, and an empty continuation token."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.handlers import validate_ascii_metadata
from lxml import etree

from tests.integration import s3_support
from tests.integration.s3_support import error_code
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture


def error_of(r: httpx.Response) -> tuple[str, int, str]:
    root = etree.fromstring(r.content)
    return root.findtext("Code") or "", r.status_code, root.findtext("Message") or ""


def signed(server: Server, method: str, path: str, query: dict[str, str] | None = None,
           headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[str, dict[str, str]]:
    """URL and headers of a request botocore's own signer signed (header values as text:
    botocore hashes their UTF-8)."""
    url = server.s3_url + quote(path)
    if query:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    request = AWSRequest(method, url, headers=dict(headers or {}), data=body)
    S3SigV4Auth(Credentials(server.s3_key_id, server.s3_secret), "s3", server.region).add_auth(request)
    return url, dict(request.headers)


def presigned(server: Server, method: str, path: str, expires: int) -> str:
    """A presigned URL from botocore's own query signer, for any X-Amz-Expires (boto3's
    generate_presigned_url goes through awscrt here, which refuses 0 and negatives)."""
    request = AWSRequest(method, server.s3_url + quote(path))
    S3SigV4QueryAuth(Credentials(server.s3_key_id, server.s3_secret), "s3", server.region,
                     expires=expires).add_auth(request)
    return str(request.url)


# --- presigned URLs ------------------------------------------------------------------


@pytest.mark.parametrize(("expires", "message"), [
    (0, "Request has expired"),
    (-7, "X-Amz-Expires must be non-negative"),
    (604801, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
             "less than 604800 seconds"),
    (609901, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
             "less than 604800 seconds"),
])
def test_presigned_expires_out_of_range(server: Server, admin: Any, s3_bucket: str, expires: int,
                                        message: str) -> None:
    """Correctly signed URLs whose X-Amz-Expires is out of range (or 0): 403 AccessDenied
    (as s3-tests' x_amz_expires_out_* checks expect), for a GET and for a PUT, which
    then stores nothing."""
    admin.put_object(Bucket=s3_bucket, Key="k", Body=b"old")
    get = presigned(server, "GET", f"/{s3_bucket}/k", expires)
    assert f"X-Amz-Expires={expires}&" in get
    assert error_of(httpx.get(get)) == ("AccessDenied", 403, message)
    put = presigned(server, "PUT", f"/{s3_bucket}/k", expires)
    assert error_of(httpx.put(put, content=b"new")) == ("AccessDenied", 403, message)
    if expires == 604801:  # boto3's own presigner (awscrt) makes these too
        url = admin.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "k"},
                                           ExpiresIn=expires)
        assert error_of(httpx.get(url)) == ("AccessDenied", 403, message)
    assert admin.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"old"


def test_spent_presigned_urls(admin: Any, s3_bucket: str) -> None:
    """Expired GET and PUT (1 s, used 2 s later): 403 AccessDenied 'Request has expired'
    with AWS's X-Amz-Expires / Expires / ServerTime elements; a 5 MiB PUT body is refused
    the same way, and nothing is stored."""
    admin.put_object(Bucket=s3_bucket, Key="k", Body=b"old")
    get = admin.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "k"}, ExpiresIn=1)
    put = admin.generate_presigned_url("put_object", Params={"Bucket": s3_bucket, "Key": "k"}, ExpiresIn=1)
    part = admin.generate_presigned_url("upload_part", Params={"Bucket": s3_bucket, "Key": "k", "UploadId": "x",
                                                               "PartNumber": 1}, ExpiresIn=1)
    time.sleep(2.1)
    r = httpx.get(get)
    assert error_of(r) == ("AccessDenied", 403, "Request has expired")
    root = etree.fromstring(r.content)
    assert root.findtext("X-Amz-Expires") == "1" and root.findtext("Expires") and root.findtext("ServerTime")
    assert error_of(httpx.put(put, content=b"n" * (5 * 1024 * 1024))) == ("AccessDenied", 403,
                                                                         "Request has expired")
    assert error_of(httpx.put(part, content=b"p")) == ("AccessDenied", 403, "Request has expired")
    assert admin.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"old"


# --- non-ASCII user metadata ------------------------------------------------------------


def test_raw_utf8_metadata(server: Server, admin: Any, s3_bucket: str) -> None:
    """x-amz-meta-* holding raw UTF-8, signed over those bytes (what Go, JavaScript and
    curl send): stored as the text it is, returned RFC 2047-encoded as AWS does, and
    readable as text over REST."""
    text = "Grüße aus Köln, 日本 ✓"
    url, headers = signed(server, "PUT", f"/{s3_bucket}/meta", headers={"x-amz-meta-title": text}, body=b"m")
    wire = {k: (v.encode() if k.lower() == "x-amz-meta-title" else v) for k, v in headers.items()}
    r = httpx.put(url, headers=wire, content=b"m")
    assert r.status_code == 200, r.text
    head = admin.head_object(Bucket=s3_bucket, Key="meta")
    encoded = head["Metadata"]["title"]
    assert encoded == "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
    info = httpx.get(f"{server.url}object/info/{s3_bucket}/meta", headers=server.headers()).json()
    assert info["metadata"] == {"title": text}


def test_latin1_and_rfc2047_metadata_from_boto3(server: Server, s3_bucket: str) -> None:
    """boto3 with its ASCII-only metadata check removed sends raw UTF-8 and signs those
    bytes (SignatureDoesNotMatch before); and the RFC 2047 form boto3 users are told to
    send. Both store the same text, returned RFC 2047-encoded."""
    loose = boto3.client("s3", endpoint_url=server.s3_url, region_name=server.region,
                         aws_access_key_id=server.s3_key_id, aws_secret_access_key=server.s3_secret,
                         config=Config(parameter_validation=False, s3={"addressing_style": "path"}))
    loose.meta.events.unregister("before-parameter-build.s3.PutObject", validate_ascii_metadata)
    loose.put_object(Bucket=s3_bucket, Key="latin", Body=b"l", Metadata={"city": "Zürich"})
    word = "=?UTF-8?B?" + base64.b64encode("Zürich".encode()).decode() + "?="
    loose.put_object(Bucket=s3_bucket, Key="mime", Body=b"m", Metadata={"city": word})
    for key in ("latin", "mime"):
        assert loose.head_object(Bucket=s3_bucket, Key=key)["Metadata"] == {"city": word}, key


# --- a deleted bucket ---------------------------------------------------------------------


def test_object_requests_in_a_deleted_bucket(admin: Any, s3_bucket: str) -> None:
    gone = f"gone-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=gone)
    admin.put_object(Bucket=s3_bucket, Key="src", Body=b"s")
    admin.delete_bucket(Bucket=gone)
    upload = admin.create_multipart_upload(Bucket=s3_bucket, Key="mp")["UploadId"]
    calls = {
        "PutObject": lambda: admin.put_object(Bucket=gone, Key="k", Body=b"x"),
        "GetObject": lambda: admin.get_object(Bucket=gone, Key="k"),
        "DeleteObject": lambda: admin.delete_object(Bucket=gone, Key="k"),
        "CopyObject into": lambda: admin.copy_object(Bucket=gone, Key="k",
                                                     CopySource={"Bucket": s3_bucket, "Key": "src"}),
        "CopyObject from": lambda: admin.copy_object(Bucket=s3_bucket, Key="k",
                                                     CopySource={"Bucket": gone, "Key": "src"}),
        "UploadPartCopy from": lambda: admin.upload_part_copy(Bucket=s3_bucket, Key="mp", UploadId=upload,
                                                              PartNumber=1, CopySource={"Bucket": gone, "Key": "s"}),
        "GetObjectTagging": lambda: admin.get_object_tagging(Bucket=gone, Key="k"),
        "PutObjectTagging": lambda: admin.put_object_tagging(Bucket=gone, Key="k", Tagging={"TagSet": []}),
        "GetObjectAttributes": lambda: admin.get_object_attributes(Bucket=gone, Key="k", ObjectAttributes=["ETag"]),
        "GetObjectAcl": lambda: admin.get_object_acl(Bucket=gone, Key="k"),
        "CreateMultipartUpload": lambda: admin.create_multipart_upload(Bucket=gone, Key="k"),
        "UploadPart": lambda: admin.upload_part(Bucket=gone, Key="k", UploadId="x", PartNumber=1, Body=b"x"),
        "ListParts": lambda: admin.list_parts(Bucket=gone, Key="k", UploadId="x"),
        "CompleteMultipartUpload": lambda: admin.complete_multipart_upload(
            Bucket=gone, Key="k", UploadId="x", MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"e"'}]}),
        "AbortMultipartUpload": lambda: admin.abort_multipart_upload(Bucket=gone, Key="k", UploadId="x"),
        "DeleteObjects": lambda: admin.delete_objects(Bucket=gone, Delete={"Objects": [{"Key": "k"}]}),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc.value) == ("NoSuchBucket", 404), name
    with pytest.raises(ClientError) as exc:
        admin.head_object(Bucket=gone, Key="k")
    assert error_code(exc.value)[1] == 404
    admin.abort_multipart_upload(Bucket=s3_bucket, Key="mp", UploadId=upload)


# --- listings ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["a\nb", "a\r\nb", "\n", "line\rbreak/"])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_prefix_with_line_breaks_is_echoed(server: Server, admin: Any, s3_bucket: str, prefix: str,
                                           version: str) -> None:
    """The Prefix element gives back exactly the prefix asked for: as XML text (a CR as a
    character reference, since parsers turn a raw one into LF) and url-encoded."""
    admin.put_object(Bucket=s3_bucket, Key="a", Body=b"a")
    query = {"prefix": prefix, **({"list-type": "2"} if version == "v2" else {})}
    for encoded in (False, True):
        url, headers = signed(server, "GET", f"/{s3_bucket}", {**query, **({"encoding-type": "url"} if encoded else {})})
        r = httpx.get(url, headers=headers)
        assert r.status_code == 200, r.text
        root = etree.fromstring(r.content)
        ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
        echoed = root.findtext("s:Prefix", namespaces=ns)
        assert echoed == (quote(prefix, safe="/") if encoded else prefix)
        assert root.find("s:Contents", ns) is None
    via_boto3 = admin.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)
    assert via_boto3["Prefix"] == prefix and "Contents" not in via_boto3


def test_empty_continuation_token(admin: Any, s3_bucket: str, server: Server) -> None:
    """AWS refuses an empty continuation-token: 400 InvalidArgument, naming the argument."""
    admin.put_object(Bucket=s3_bucket, Key="a", Body=b"a")
    with pytest.raises(ClientError) as exc:
        admin.list_objects_v2(Bucket=s3_bucket, ContinuationToken="")
    assert error_code(exc.value) == ("InvalidArgument", 400)
    assert exc.value.response["Error"]["Message"] == "The continuation token provided is incorrect"
    url, headers = signed(server, "GET", f"/{s3_bucket}", {"list-type": "2", "continuation-token": ""})
    r = httpx.get(url, headers=headers)
    assert error_of(r)[:2] == ("InvalidArgument", 400)
    assert etree.fromstring(r.content).findtext("ArgumentName") == "continuation-token"
    with pytest.raises(ClientError) as exc:
        admin.list_objects_v2(Bucket=s3_bucket, ContinuationToken="not a token")
    assert error_code(exc.value) == ("InvalidArgument", 400)


# --- Expect: 100-Continue -------------------------------------------------------------------


@pytest.mark.parametrize("expect", ["100-Continue", "100-continue", "100-CONTINUE"])
@pytest.mark.parametrize("port", ["s3", "rest"])
def test_expect_continue_in_any_case(server: Server, s3_bucket: str, admin: Any, expect: str, port: str) -> None:
    """The interim 100 Continue comes at once, whatever the letter case (rclone's
    aws-sdk-go writes `100-Continue` and waits a second for it before each part)."""
    import socket
    from urllib.parse import urlsplit

    base = server.s3_url if port == "s3" else server.url.rstrip("/") + "/s3"
    body = b"c" * 65536
    request = AWSRequest("PUT", f"{base}/{s3_bucket}/continued", data=body)
    S3SigV4Auth(Credentials(server.s3_key_id, server.s3_secret), "s3", server.region).add_auth(request)
    parts = urlsplit(base)
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + f"Content-Length: {len(body)}\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(f"PUT {parts.path}/{s3_bucket}/continued HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
                     f"Expect: {expect}\r\n\r\n".encode())
        started = time.monotonic()
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 "), interim  # tornado's own reads `100 (Continue)`
        assert time.monotonic() - started < 0.5
        sock.sendall(body)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
    assert admin.get_object(Bucket=s3_bucket, Key="continued")["Body"].read() == body


def test_rclone_multipart_does_not_wait_for_continue(server: Server, s3_bucket: str, admin: Any,
                                                     tmp_path: Any) -> None:
    """rclone, told to wait up to 20 s for each part's 100 Continue, uploads 4 parts in
    far less than one such wait: every part got its answer at once."""
    import os
    import shutil
    import subprocess

    assert shutil.which("rclone"), "rclone is a test dependency (scripts/test.sh)"
    data = os.urandom(16 * 1024 * 1024)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    env.update(RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_T_TYPE="s3", RCLONE_CONFIG_T_PROVIDER="Other",
               RCLONE_CONFIG_T_ENV_AUTH="false", RCLONE_CONFIG_T_ACCESS_KEY_ID=server.s3_key_id,
               RCLONE_CONFIG_T_SECRET_ACCESS_KEY=server.s3_secret, RCLONE_CONFIG_T_ENDPOINT=server.s3_url,
               RCLONE_CONFIG_T_REGION=server.region, RCLONE_CONFIG_T_FORCE_PATH_STYLE="true")
    started = time.monotonic()
    done = subprocess.run(["rclone", "copyto", str(source), f"t:{s3_bucket}/rc.bin", "--s3-upload-cutoff", "5M",
                           "--s3-chunk-size", "5M", "--s3-upload-concurrency", "1", "--expect-continue-timeout",
                           "20s", "--retries", "1"], env=env, capture_output=True, timeout=300)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert elapsed < 15, f"{elapsed:.1f} s: parts waited for 100 Continue"
    assert admin.head_object(Bucket=s3_bucket, Key="rc.bin")["ETag"].endswith('-4"')
    assert admin.get_object(Bucket=s3_bucket, Key="rc.bin")["Body"].read() == data
