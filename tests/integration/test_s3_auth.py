"""S3 authentication failures and variants, each with AWS's code and status.

Requests that need a wrong clock, a lying payload hash or a hand-built aws-chunked body
are signed by the small SigV4 implementation below, written from AWS's specification
and independent of the server's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code, s3_client
from tests.rig import Server

EMPTY = hashlib.sha256(b"").hexdigest()

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture


def _key(secret: str, date: str, region: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def signed(server: Server, method: str, path: str, *, headers: dict[str, str] | None = None,
           payload_hash: str = EMPTY, when: datetime | None = None, secret: str | None = None,
           query: str = "") -> tuple[dict[str, str], str, bytes, str]:
    """Headers for a header-signed request; also the seed signature, signing key, scope."""
    when = when or datetime.now(UTC)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    host = urlsplit(server.s3_url).netloc
    all_headers = {"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_hash,
                   **{k.lower(): v for k, v in (headers or {}).items()}}
    names = sorted(all_headers)
    canonical = "\n".join([method, quote(path, safe="/-_.~"), query,
                           "".join(f"{n}:{all_headers[n].strip()}\n" for n in names), ";".join(names),
                           payload_hash])
    scope = f"{stamp[:8]}/{server.region}/s3/aws4_request"
    key = _key(secret or server.s3_secret, stamp[:8], server.region)
    sts = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = _hex(key, sts)
    all_headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.s3_key_id}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")
    del all_headers["host"]
    return all_headers, signature, key, f"{stamp}\n{scope}"


def chunked_body(data: list[bytes], key: bytes, seed: str, date_scope: str, *, corrupt: bool = False) -> bytes:
    out = b""
    previous = seed
    for chunk in [*data, b""]:
        sts = (f"AWS4-HMAC-SHA256-PAYLOAD\n{date_scope}\n{previous}\n{EMPTY}\n"
               f"{hashlib.sha256(chunk).hexdigest()}")
        sig = _hex(key, sts)
        if corrupt and chunk:
            sig = "0" * 64
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
        previous = sig
    return out


def error_of(r: httpx.Response) -> tuple[str, int]:
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return code, r.status_code


def test_wrong_secret_and_unknown_key(server: Server, s3_bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3_client(server, secret="wrong-secret").list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as exc:
        s3_client(server, key_id="AKIDUNKNOWN").list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("InvalidAccessKeyId", 403)
    assert error_of(httpx.get(f"{server.s3_url}/{s3_bucket}")) == ("AccessDenied", 403)


def test_clock_skew(server: Server, s3_bucket: str) -> None:
    path = f"/{s3_bucket}"
    headers, *_ = signed(server, "GET", path, when=datetime.now(UTC) - timedelta(minutes=20))
    assert error_of(httpx.get(server.s3_url + path, headers=headers)) == ("RequestTimeTooSkewed", 403)
    headers, *_ = signed(server, "GET", path)
    assert httpx.get(server.s3_url + path, headers=headers).status_code == 200


def test_presigned_urls(server: Server, s3_bucket: str, admin: Any) -> None:
    admin.put_object(Bucket=s3_bucket, Key="p/q r.txt", Body=b"presigned")
    url = admin.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "p/q r.txt"},
                                       ExpiresIn=300)
    assert httpx.get(url).content == b"presigned"
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    put = admin.generate_presigned_url("put_object", Params={"Bucket": s3_bucket, "Key": "up"}, ExpiresIn=300)
    assert httpx.put(put, content=b"via presigned put").status_code == 200
    assert admin.get_object(Bucket=s3_bucket, Key="up")["Body"].read() == b"via presigned put"
    # an expired URL: signed 2 hours ago for 1 hour
    stamp = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{stamp[:8]}/{server.region}/s3/aws4_request"
    host = urlsplit(server.s3_url).netloc
    path = f"/{s3_bucket}/up"
    params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{server.s3_key_id}/{scope}",
              "X-Amz-Date": stamp, "X-Amz-Expires": "3600", "X-Amz-SignedHeaders": "host"}
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))
    canonical = f"GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    sts = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    sig = _hex(_key(server.s3_secret, stamp[:8], server.region), sts)
    r = httpx.get(f"{server.s3_url}{path}?{query}&X-Amz-Signature={sig}")
    assert error_of(r) == ("AccessDenied", 403)
    assert "expired" in r.text


def test_payload_hash_mismatch(server: Server, s3_bucket: str, admin: Any) -> None:
    path = f"/{s3_bucket}/sha"
    headers, *_ = signed(server, "PUT", path, payload_hash=hashlib.sha256(b"abc").hexdigest())
    r = httpx.put(server.s3_url + path, headers=headers, content=b"abd")
    assert error_of(r) == ("XAmzContentSHA256Mismatch", 400)
    with pytest.raises(ClientError):
        admin.head_object(Bucket=s3_bucket, Key="sha")
    headers, *_ = signed(server, "PUT", path, payload_hash=hashlib.sha256(b"abc").hexdigest())
    assert httpx.put(server.s3_url + path, headers=headers, content=b"abc").status_code == 200


def test_content_md5(server: Server, s3_bucket: str) -> None:
    client = s3_client(server, mode="when_required")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=s3_bucket, Key="m", Body=b"data", ContentMD5=wrong)
    assert error_code(exc.value) == ("BadDigest", 400)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=s3_bucket, Key="m", Body=b"data", ContentMD5="not-base64!")
    assert error_code(exc.value) == ("InvalidDigest", 400)
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    client.put_object(Bucket=s3_bucket, Key="m", Body=b"data", ContentMD5=right)


def test_signed_aws_chunked(server: Server, s3_bucket: str, admin: Any) -> None:
    path = f"/{s3_bucket}/chunked"
    data = [b"a" * 70_000, b"b" * 1000]
    size = sum(len(d) for d in data)
    for corrupt in (True, False):
        headers, seed, key, date_scope = signed(
            server, "PUT", path, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            headers={"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(size)})
        body = chunked_body(data, key, seed, date_scope, corrupt=corrupt)
        r = httpx.put(server.s3_url + path, headers=headers, content=body)
        if corrupt:
            assert error_of(r) == ("SignatureDoesNotMatch", 403)
            with pytest.raises(ClientError):
                admin.head_object(Bucket=s3_bucket, Key="chunked")
        else:
            assert r.status_code == 200, r.text
    got = admin.get_object(Bucket=s3_bucket, Key="chunked")
    assert got["Body"].read() == b"".join(data)
    assert "ContentEncoding" not in got


def test_unsigned_trailer_checksum(server: Server, s3_bucket: str, admin: Any) -> None:
    path = f"/{s3_bucket}/trailer"
    data = b"trailer data" * 100
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    for value, ok in ((base64.b64encode(b"\0\0\0\0").decode(), False), (good, True)):
        headers, *_ = signed(server, "PUT", path, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                             headers={"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                                      "x-amz-decoded-content-length": str(len(data))})
        body = f"{len(data):x}\r\n".encode() + data + f"\r\n0\r\nx-amz-checksum-crc32:{value}\r\n\r\n".encode()
        r = httpx.put(server.s3_url + path, headers=headers, content=body)
        if ok:
            assert r.status_code == 200, r.text
            assert r.headers["x-amz-checksum-crc32"] == good
        else:
            assert error_of(r) == ("BadDigest", 400)
    assert admin.get_object(Bucket=s3_bucket, Key="trailer")["Body"].read() == data


@pytest.fixture
def user_policy(server: Server, s3_bucket: str) -> Any:
    """authenticated users may read and write only under `<their sub>/` in the test bucket."""
    name = f"s3_rls_{uuid.uuid4().hex[:8]}"
    check = f"bucket_id = '{s3_bucket}' AND (storage.foldername(name))[1] = auth.jwt() ->> 'sub'"
    for action, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK"), ("UPDATE", "USING"),
                           ("DELETE", "USING")):
        server.sql(f'CREATE POLICY "{name}_{action.lower()}" ON storage.objects FOR {action} '
                   f"TO authenticated {clause} ({check})")
    yield name
    for action in ("select", "insert", "update", "delete"):
        server.sql(f'DROP POLICY "{name}_{action}" ON storage.objects')


def test_session_token_obeys_rls_like_rest(server: Server, s3_bucket: str, admin: Any, user_policy: str) -> None:
    sub = str(uuid.uuid4())
    token = server.token("authenticated", sub=sub)
    user = s3_client(server, token=token)
    rest = httpx.Client(base_url=server.url, headers=server.headers(token), timeout=30)
    admin.put_object(Bucket=s3_bucket, Key="other/secret", Body=b"no")
    # allowed: own folder, both protocols
    user.put_object(Bucket=s3_bucket, Key=f"{sub}/s3.txt", Body=b"mine")
    r = rest.post(f"object/{s3_bucket}/{sub}/rest.txt", content=b"mine too", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert user.get_object(Bucket=s3_bucket, Key=f"{sub}/rest.txt")["Body"].read() == b"mine too"
    assert rest.get(f"object/authenticated/{s3_bucket}/{sub}/s3.txt").content == b"mine"
    keys = [o["Key"] for o in user.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == sorted([f"{sub}/rest.txt", f"{sub}/s3.txt"])
    # denied: someone else's folder, both protocols
    with pytest.raises(ClientError) as exc:
        user.put_object(Bucket=s3_bucket, Key="other/x", Body=b"x")
    assert error_code(exc.value) == ("AccessDenied", 403)
    r = rest.post(f"object/{s3_bucket}/other/x", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.json()["statusCode"] == "403"
    with pytest.raises(ClientError) as exc:
        user.get_object(Bucket=s3_bucket, Key="other/secret")
    assert error_code(exc.value) == ("NoSuchKey", 404)
    assert rest.get(f"object/authenticated/{s3_bucket}/other/secret").json()["statusCode"] == "404"
    # the owner recorded is the user's sub
    rows = server.sql("SELECT owner_id FROM storage.objects WHERE bucket_id = $1 AND name = $2",
                      s3_bucket, f"{sub}/s3.txt")
    assert rows == [{"owner_id": sub}]
    # an expired session token
    expired = s3_client(server, token=server.token("authenticated", sub=sub, exp=-10))
    with pytest.raises(ClientError) as exc:
        expired.list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("ExpiredToken", 400)


def test_signed_aws_chunked_with_signed_trailer(server: Server, s3_bucket: str, admin: Any) -> None:
    path = f"/{s3_bucket}/signed-trailer"
    data = b"signed trailer" * 500
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    for value, expected in ((base64.b64encode(b"\1\2\3\4").decode(), ("BadDigest", 400)), (crc, None)):
        headers, seed, key, date_scope = signed(
            server, "PUT", path, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            headers={"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                     "x-amz-decoded-content-length": str(len(data))})
        body = chunked_body([data], key, seed, date_scope)
        last_sig = body.rsplit(b"chunk-signature=", 1)[1][:64].decode()
        trailer = f"x-amz-checksum-crc32:{value}\n"
        sts = (f"AWS4-HMAC-SHA256-TRAILER\n{date_scope}\n{last_sig}\n"
               f"{hashlib.sha256(trailer.encode()).hexdigest()}")
        body = body[:-2] + f"x-amz-checksum-crc32:{value}\r\nx-amz-trailer-signature:{_hex(key, sts)}\r\n\r\n".encode()
        r = httpx.put(server.s3_url + path, headers=headers, content=body)
        if expected:
            assert error_of(r) == expected
        else:
            assert r.status_code == 200, r.text
    assert admin.get_object(Bucket=s3_bucket, Key="signed-trailer")["Body"].read() == data


def test_malformed_credentials_get_aws_codes(server: Server, s3_bucket: str, admin: Any) -> None:
    """Unparseable presigned parameters and Authorization headers: AWS's 400 codes, which
    SDKs show as such (the reference says InvalidArgument / InvalidRequest)."""
    url = admin.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "k"}, ExpiresIn=300)
    not_a_number = url.replace("X-Amz-Expires=300", "X-Amz-Expires=1h")
    assert error_of(httpx.get(not_a_number)) == ("AuthorizationQueryParametersError", 400)
    wrong_service = url.replace("%2Fs3%2Faws4_request", "%2Fiam%2Faws4_request")
    assert error_of(httpx.get(wrong_service)) == ("AuthorizationQueryParametersError", 400)
    path = f"/{s3_bucket}"
    headers, *_ = signed(server, "GET", path)
    headers["authorization"] = headers["authorization"].replace("/s3/aws4_request", "/iam/aws4_request")
    r = httpx.get(server.s3_url + path, headers=headers)
    assert error_of(r) == ("AuthorizationHeaderMalformed", 400)
    assert "incorrect service" in r.text


def test_tokens_may_only_assume_allowed_roles(server: Server, s3_bucket: str) -> None:
    """A validly signed token claiming the database superuser's role (or any role not
    allowed) is refused, over REST and as an S3 session token (issue 15 §1c)."""
    for role in ("postgres", "pg_read_all_data"):
        token = server.token(role)
        r = httpx.get(server.url + "bucket", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "AccessDenied" and role in r.json()["message"]
        with pytest.raises(ClientError) as caught:
            s3_client(server, token=token).list_objects_v2(Bucket=s3_bucket)
        assert error_code(caught.value) == ("AccessDenied", 403)
    # the allowed ones still work
    r = httpx.get(server.url + "bucket", headers={"Authorization": f"Bearer {server.token('authenticated', sub='u1')}"})
    assert r.status_code == 200, r.text
