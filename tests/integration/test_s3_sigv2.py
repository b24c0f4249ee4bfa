"""SigV2 (`Authorization: AWS id:sig` and presigned `AWSAccessKeyId/Expires/Signature`),
as botocore's HmacV1Auth / HmacV1QueryAuth (`signature_version='s3'`) and aws-cli v1's
default presigner send it, verified as strictly as SigV4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture

AWS = str(Path(sys.executable).parent / "aws")


def v2_client(server: Server, *, endpoint: str | None = None, key_id: str | None = None,
              secret: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=endpoint or server.s3_url, region_name=server.region,
                        aws_access_key_id=key_id or server.s3_key_id,
                        aws_secret_access_key=secret or server.s3_secret,
                        config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def error_of(r: httpx.Response) -> tuple[str, int]:
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return code, r.status_code


@pytest.mark.parametrize("port", ["s3", "rest"])
def test_header_signed_object_operations(server: Server, s3_bucket: str, admin: Any, port: str) -> None:
    endpoint = server.s3_url if port == "s3" else server.url + "s3"
    client = v2_client(server, endpoint=endpoint)
    body = os.urandom(100_000)
    put = client.put_object(Bucket=s3_bucket, Key="v2/ü ñ+x.bin", Body=body, ContentType="application/x-test",
                            Metadata={"who": "sigv2"})
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    head = client.head_object(Bucket=s3_bucket, Key="v2/ü ñ+x.bin")
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (len(body), "application/x-test",
                                                                               {"who": "sigv2"})
    assert client.get_object(Bucket=s3_bucket, Key="v2/ü ñ+x.bin")["Body"].read() == body
    assert client.get_object(Bucket=s3_bucket, Key="v2/ü ñ+x.bin", Range="bytes=0-9")["Body"].read() == body[:10]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="v2/")["Contents"]]
    assert keys == ["v2/ü ñ+x.bin"]
    assert s3_bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.head_bucket(Bucket=s3_bucket)
    client.copy_object(Bucket=s3_bucket, Key="v2/copy", CopySource={"Bucket": s3_bucket, "Key": "v2/ü ñ+x.bin"})
    client.delete_object(Bucket=s3_bucket, Key="v2/ü ñ+x.bin")
    client.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": "v2/copy"}]})
    assert "Contents" not in admin.list_objects_v2(Bucket=s3_bucket, Prefix="v2/")


def test_multipart_upload(server: Server, s3_bucket: str, admin: Any) -> None:
    client = v2_client(server)
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    upload = client.create_multipart_upload(Bucket=s3_bucket, Key="mp", ContentType="text/x-parts")
    etags = [client.upload_part(Bucket=s3_bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=i + 1,
                                Body=data)["ETag"] for i, data in enumerate(parts)]
    assert [p["PartNumber"] for p in client.list_parts(Bucket=s3_bucket, Key="mp",
                                                       UploadId=upload["UploadId"])["Parts"]] == [1, 2]
    client.complete_multipart_upload(Bucket=s3_bucket, Key="mp", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                                                for i, e in enumerate(etags)]})
    got = admin.get_object(Bucket=s3_bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts) and got["ContentType"] == "text/x-parts"
    aborted = client.create_multipart_upload(Bucket=s3_bucket, Key="gone")
    client.abort_multipart_upload(Bucket=s3_bucket, Key="gone", UploadId=aborted["UploadId"])
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


def test_presigned_urls(server: Server, s3_bucket: str, admin: Any) -> None:
    client = v2_client(server)
    admin.put_object(Bucket=s3_bucket, Key="p/q r.txt", Body=b"presigned v2")
    url = client.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "p/q r.txt"},
                                        ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    assert httpx.get(url).content == b"presigned v2"
    assert error_of(httpx.delete(url)) == ("SignatureDoesNotMatch", 403)  # the method is signed
    # response overrides are signed sub-resources
    url = client.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "p/q r.txt",
                                                              "ResponseContentType": "text/x-override"})
    assert httpx.get(url).headers["content-type"] == "text/x-override"
    tampered = url.replace("text%2Fx-override", "text%2Fhtml")
    assert error_of(httpx.get(tampered)) == ("SignatureDoesNotMatch", 403)
    # a presigned PUT carries its signed Content-Type and metadata in the query
    put = client.generate_presigned_url("put_object", Params={"Bucket": s3_bucket, "Key": "up",
                                                              "ContentType": "text/x-signed",
                                                              "Metadata": {"k": "v"}}, ExpiresIn=300)
    r = httpx.put(put, content=b"via presigned v2 put", headers={"Content-Type": "text/x-signed"})
    assert r.status_code == 200, r.text
    got = admin.get_object(Bucket=s3_bucket, Key="up")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"via presigned v2 put", "text/x-signed",
                                                                          {"k": "v"})
    r = httpx.put(put, content=b"x", headers={"Content-Type": "text/html"})  # contradicts the signed value
    assert error_of(r) == ("SignatureDoesNotMatch", 403)
    delete = client.generate_presigned_url("delete_object", Params={"Bucket": s3_bucket, "Key": "up"})
    assert httpx.delete(delete).status_code == 204
    with pytest.raises(ClientError):
        admin.head_object(Bucket=s3_bucket, Key="up")


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | changes
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


def test_strict_checks(server: Server, s3_bucket: str, admin: Any) -> None:
    client = v2_client(server)
    admin.put_object(Bucket=s3_bucket, Key="k", Body=b"v")
    url = client.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "k"}, ExpiresIn=300)
    assert error_of(httpx.get(_with_query(url, Expires=str(int(time.time()) - 5)))) == ("AccessDenied", 403)
    assert error_of(httpx.get(_with_query(url, Signature="AAAA"))) == ("SignatureDoesNotMatch", 403)
    assert error_of(httpx.get(_with_query(url, AWSAccessKeyId="nobody"))) == ("InvalidAccessKeyId", 403)
    with pytest.raises(ClientError) as exc:
        v2_client(server, secret="wrong").get_object(Bucket=s3_bucket, Key="k")
    assert error_code(exc.value) == ("SignatureDoesNotMatch", 403)
    # an old Date is a replay: RequestTimeTooSkewed, as with SigV4
    path = f"/{s3_bucket}/k"
    for date, expected in ((formatdate(time.time() - 20 * 60, usegmt=True), ("RequestTimeTooSkewed", 403)),
                           (formatdate(time.time(), usegmt=True), ("", 200))):
        digest = hmac.new(server.s3_secret.encode(), f"GET\n\n\n{date}\n{path}".encode(), hashlib.sha1).digest()
        signature = base64.b64encode(digest).decode()
        r = httpx.get(server.s3_url + path, headers={"Date": date, "Authorization": f"AWS {server.s3_key_id}:{signature}"})
        assert error_of(r) == expected
    # SigV2 signs no payload: the Content-MD5 the client sent is what guards the body
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=s3_bucket, Key="md5", Body=b"data", ContentMD5=wrong)
    assert error_code(exc.value) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        admin.head_object(Bucket=s3_bucket, Key="md5")
    # one request, two mechanisms
    r = httpx.get(url, headers={"Authorization": "AWS x:y"})
    assert error_of(r) == ("InvalidArgument", 400)


def test_aws_cli_default_presign(server: Server, s3_bucket: str, admin: Any) -> None:
    """aws-cli v1 presigns with SigV2 unless configured otherwise."""
    admin.put_object(Bucket=s3_bucket, Key="cli.txt", Body=b"aws-cli v1 presigned")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.s3_key_id, AWS_SECRET_ACCESS_KEY=server.s3_secret,
               AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    done = subprocess.run([AWS, "--endpoint-url", server.s3_url, "s3", "presign", f"s3://{s3_bucket}/cli.txt"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert "AWSAccessKeyId=" in url
    assert httpx.get(url).content == b"aws-cli v1 presigned"


def test_user_key_signs_v2(server: Server, s3_bucket: str, admin: Any) -> None:
    """A user's own key works with SigV2 too, as that user."""
    sub = str(uuid.uuid4())
    key_id, secret = server.user_key(sub, role="service_role")
    client = v2_client(server, key_id=key_id, secret=secret)
    client.put_object(Bucket=s3_bucket, Key="by-user", Body=b"u")
    rows = server.sql("SELECT owner_id FROM storage.objects WHERE bucket_id = $1 AND name = 'by-user'", s3_bucket)
    assert rows == [{"owner_id": sub}]
