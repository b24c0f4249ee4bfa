"""SigV4 verification against requests signed by botocore itself and AWS's documented examples."""

from __future__ import annotations

import calendar
import hashlib
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3proxy import errors
from s3proxy.auth import sigv4
from s3proxy.auth.sigv4 import (
    EMPTY_SHA256,
    PayloadMode,
    SignedRequest,
    has_signature,
    parse_auth,
    payload_mode,
    verify,
)
from s3proxy.s3.errors import s3_error

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
URL = "http://127.0.0.1:5000/s3/bucket/dir/f%C3%BCr%20x.txt"

# AWS documentation examples (sig-v4-header-based-auth / sigv4-query-string-auth)
DOC_AK, DOC_SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = calendar.timegm((2013, 5, 24, 0, 0, 0))


def secrets(key: str) -> str | None:
    return {AK: SK, DOC_AK: DOC_SK}.get(key)


def botocore_signed(method: str = "GET", url: str = URL, headers: dict[str, str] | None = None,
                    body: bytes = b"", token: str | None = None, region: str = "us-east-1",
                    presign: int | None = None) -> AWSRequest:
    req = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    creds = Credentials(AK, SK, token)
    if presign is not None:
        S3SigV4QueryAuth(creds, "s3", region, expires=presign).add_auth(req)
    else:
        S3SigV4Auth(creds, "s3", region).add_auth(req)
    return req


def received(req: AWSRequest, *, path: str | None = None, extra: dict[str, str] | None = None,
             drop: tuple[str, ...] = (), query: str | None = None) -> SignedRequest:
    """What the server sees: the same request as it arrives, optionally altered."""
    parts = urlsplit(req.url)
    pairs = [(k, v) for k, v in req.headers.items() if k.lower() not in drop]
    pairs += list((extra or {}).items())
    if not any(k.lower() == "host" for k, _ in pairs):
        pairs.append(("Host", parts.netloc))
    return SignedRequest.from_parts(req.method, parts.path if path is None else path,
                                    parts.query if query is None else query, pairs)


def error_of(fn, *args, **kwargs) -> errors.Error:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.Error) as info:
        fn(*args, **kwargs)
    return info.value


# -- AWS documented vectors --------------------------------------------------------------

def test_aws_doc_get_object() -> None:
    req = SignedRequest.from_parts("GET", "/test.txt", "", [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", "20130524T000000Z"),
        ("Authorization", f"AWS4-HMAC-SHA256 Credential={DOC_AK}/20130524/us-east-1/s3/aws4_request,"
         "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
         "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")])
    result = verify(req, secrets, now=DOC_NOW)
    assert result.scope == "20130524/us-east-1/s3/aws4_request"
    assert result.payload_hash == EMPTY_SHA256 and not result.presigned


def test_aws_doc_list_objects_query() -> None:
    req = SignedRequest.from_parts("GET", "/", "max-keys=2&prefix=J", [
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", "20130524T000000Z"),
        ("Authorization", f"AWS4-HMAC-SHA256 Credential={DOC_AK}/20130524/us-east-1/s3/aws4_request,"
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
         "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")])
    verify(req, secrets, now=DOC_NOW)


def test_aws_doc_presigned() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
             "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
             "X-Amz-SignedHeaders=host&X-Amz-Signature="
             "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    req = SignedRequest.from_parts("GET", "/test.txt", query, [("Host", "examplebucket.s3.amazonaws.com")])
    result = verify(req, secrets, now=DOC_NOW + 3600)
    assert result.presigned and result.payload_hash == "UNSIGNED-PAYLOAD"
    assert error_of(verify, req, secrets, now=DOC_NOW + 86401).message == "Request has expired"


def test_aws_doc_streaming_seed_signature() -> None:
    req = SignedRequest.from_parts("PUT", "/examplebucket/chunkObject.txt", "", [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
        ("Authorization", f"AWS4-HMAC-SHA256 Credential={DOC_AK}/20130524/us-east-1/s3/aws4_request,"
         "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
         "x-amz-decoded-content-length;x-amz-storage-class,"
         "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")])
    result = verify(req, secrets, now=DOC_NOW)
    assert result.seed_signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    assert payload_mode(result.payload_hash) is PayloadMode.CHUNKED_SIGNED


# -- botocore-signed requests ----------------------------------------------------------

def test_header_get_with_unicode_key_and_query() -> None:
    req = botocore_signed(url=URL + "?list-type=2&prefix=a%20b&flag&x=2&x=1")
    result = verify(received(req), secrets)
    assert result.access_key_id == AK and result.session_token is None
    assert result.payload_hash == EMPTY_SHA256
    assert req.headers["Authorization"].endswith("Signature=" + result.seed_signature)


def test_put_with_body_and_session_token_and_other_region() -> None:
    body = b"hello world"
    req = botocore_signed("PUT", headers={"x-amz-meta-a": "  spaced   value ", "Content-Type": "text/plain"},
                          body=body, token="jwt.token.here", region="eu-central-1")
    result = verify(received(req), secrets)
    assert result.session_token == "jwt.token.here"
    assert result.payload_hash == hashlib.sha256(body).hexdigest()
    assert result.region == "eu-central-1" and payload_mode(result.payload_hash) is PayloadMode.SHA256


def test_wrong_secret_and_unknown_key() -> None:
    req = received(botocore_signed())
    assert error_of(verify, req, lambda _k: "nope").code == "SignatureDoesNotMatch"
    assert error_of(verify, req, lambda _k: None).code == "InvalidAccessKeyId"


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    signed = botocore_signed()
    auth = signed.headers["Authorization"].rsplit("Signature=", 1)[0] + "Signature=é" + "0" * 63
    err = error_of(verify, received(signed, extra={"Authorization": auth}, drop=("authorization",)), secrets)
    assert err.code == "SignatureDoesNotMatch"


def test_tampering_is_detected() -> None:
    req = botocore_signed("PUT", url=URL + "?tagging", headers={"x-amz-meta-a": "1"}, body=b"x")
    verify(received(req), secrets)
    tampered = [
        received(req, extra={"X-Amz-Meta-A": "2"}, drop=("x-amz-meta-a",)),
        received(req, path="/s3/bucket/other"),
        received(req, query="tagging&versionId=1"),
        received(req, query=""),
        received(req, extra={"Host": "evil.example"}, drop=("host",)),
    ]
    for request in tampered:
        assert error_of(verify, request, secrets).code == "SignatureDoesNotMatch"


def test_unsigned_amz_header_rejected() -> None:
    req = botocore_signed("PUT", body=b"x")
    err = error_of(verify, received(req, extra={"x-amz-copy-source": "/other/key"}), secrets)
    assert err.code == "AccessDenied" and s3_error(err).status == 403 and "not signed" in err.message


def test_host_must_be_signed() -> None:
    req = botocore_signed()
    auth = req.headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    err = error_of(verify, received(req, extra={"Authorization": auth}, drop=("authorization",)), secrets)
    assert s3_error(err).status == 400 and "host" in err.message


def test_missing_content_sha256_header() -> None:
    req = botocore_signed()
    err = error_of(verify, received(req, drop=("x-amz-content-sha256",)), secrets)
    assert (err.code, err.message) == ("InvalidRequest",
                                       "Missing required header for this request: x-amz-content-sha256")


def test_clock_skew() -> None:
    req = received(botocore_signed())
    verify(req, secrets, now=time.time() + 14 * 60)
    for delta in (16 * 60, -16 * 60):
        err = error_of(verify, req, secrets, now=time.time() + delta)
        assert (err.code, s3_error(err).status) == ("RequestTimeTooSkewed", 403)


def test_prefix_through_gateway_and_direct() -> None:
    req = botocore_signed(url="http://gw.example/storage/v1/s3/bucket/key")
    as_forwarded = received(req, path="/s3/bucket/key")
    assert error_of(verify, as_forwarded, secrets).code == "SignatureDoesNotMatch"
    verify(as_forwarded, secrets, prefix="/storage/v1")
    direct = received(botocore_signed(url="http://gw.example/s3/bucket/key"))
    verify(direct, secrets, prefix="/storage/v1")


def test_presigned_get_and_put() -> None:
    req = botocore_signed(url=URL + "?response-content-type=text%2Fplain", presign=900, token="tok")
    assert "Authorization" not in req.headers
    result = verify(received(req), secrets)
    assert result.presigned and result.session_token == "tok"
    assert payload_mode(result.payload_hash) is PayloadMode.UNSIGNED
    put = botocore_signed("PUT", presign=60)
    verify(received(put), secrets)
    assert error_of(verify, received(put, extra={"x-amz-meta-x": "1"}), secrets).code == "AccessDenied"


def test_presigned_time_window_and_tampering() -> None:
    req = botocore_signed(url=URL + "?versionId=1", presign=60)
    ok = received(req)
    err = error_of(verify, ok, secrets, now=time.time() + 120)
    assert (err.code, s3_error(err).status, err.message) == ("AccessDenied", 403, "Request has expired")
    err = error_of(verify, ok, secrets, now=time.time() - 3600)
    assert (err.code, err.message) == ("AccessDenied", "Request is not valid yet")
    query = urlsplit(req.url).query
    assert error_of(verify, received(req, query=query.replace("versionId=1", "versionId=2")),
                    secrets).code == "SignatureDoesNotMatch"
    longer = query.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
    assert error_of(verify, received(req, query=longer), secrets).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(("expires", "code", "status", "message"), [
    ("604801", "AccessDenied", 403, "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                                    "X-Amz-Expires must be less than 604800 seconds"),
    ("-7", "AccessDenied", 403, "X-Amz-Expires must be non-negative"),
    ("0", "AccessDenied", 403, "Request has expired"),
    ("abc", "AuthorizationQueryParametersError", 400, "X-Amz-Expires should be a number"),
])
def test_presigned_bad_expires(expires: str, code: str, status: int, message: str) -> None:
    """Out of range or spent: 403 AccessDenied with AWS's messages; not a number: 400."""
    req = botocore_signed(presign=60)
    query = urlsplit(req.url).query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    err = error_of(verify, received(req, query=query), secrets)
    assert (err.code, s3_error(err).status, err.message) == (code, status, message)


def test_no_signature_and_unsupported_mechanisms() -> None:
    anon = SignedRequest.from_parts("GET", "/s3/b/k", "", [("Host", "h")])
    assert not has_signature(anon)
    assert error_of(parse_auth, anon).message == "Missing signature"
    v2 = SignedRequest.from_parts("GET", "/s3/b/k", "", [("Host", "h"), ("Authorization", "AWS AK:sig")])
    assert has_signature(v2) and error_of(parse_auth, v2).code == "InvalidRequest"
    req = botocore_signed()
    both = received(req, query="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert error_of(parse_auth, both).code == "InvalidArgument"


def test_malformed_credentials() -> None:
    req = botocore_signed()
    auth = req.headers["Authorization"]
    today = req.headers["X-Amz-Date"][:8]
    for bad in (auth.replace("/s3/", "/iam/"), auth.replace(f"/{today}/", "/20000101/"),
                auth.replace("/aws4_request", "/aws5_request"), auth.split(", Signature=")[0]):
        request = received(req, extra={"Authorization": bad}, drop=("authorization",))
        assert error_of(verify, request, secrets).code == "AuthorizationHeaderMalformed"
    for date in ("yesterday", "20241301T000000Z", "20240101T000000Zx", "20240101T250000Z"):
        bad_date = received(req, extra={"X-Amz-Date": date}, drop=("x-amz-date",))
        assert error_of(verify, bad_date, secrets).code == "AccessDenied"


@pytest.mark.parametrize("date", ["20241301T000000Z", "20240230T000000Z", "20240101T000000Zx", "2024"])
def test_presigned_impossible_dates_are_refused_not_crashed(date: str) -> None:
    req = botocore_signed(presign=60)
    query = urlsplit(req.url).query
    stamp = query.split("X-Amz-Date=")[1].split("&")[0]
    err = error_of(verify, received(req, query=query.replace(f"X-Amz-Date={stamp}", f"X-Amz-Date={date}")),
                   secrets)
    assert (err.code, s3_error(err).status) == ("AuthorizationQueryParametersError", 400)


def test_bad_payload_hash_value() -> None:
    req = botocore_signed()
    bad = received(req, extra={"x-amz-content-sha256": "abc"}, drop=("x-amz-content-sha256",))
    assert error_of(verify, bad, secrets).code == "InvalidArgument"


def test_payload_modes_and_sha_check() -> None:
    assert payload_mode("UNSIGNED-PAYLOAD") is PayloadMode.UNSIGNED
    assert payload_mode("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") is PayloadMode.CHUNKED_SIGNED_TRAILER
    assert payload_mode("STREAMING-UNSIGNED-PAYLOAD-TRAILER") is PayloadMode.CHUNKED_UNSIGNED_TRAILER
    check = sigv4.ContentSha256(hashlib.sha256(b"abc").hexdigest().upper())
    check.update(b"ab")
    check.update(b"c")
    check.verify()
    check.update(b"!")
    assert error_of(check.verify).code == "XAmzContentSHA256Mismatch"


def test_signing_key_is_cached() -> None:
    sigv4.signing_key.cache_clear()
    req = received(botocore_signed())
    verify(req, secrets)
    verify(req, secrets)
    info = sigv4.signing_key.cache_info()
    assert info.misses == 1 and info.hits == 1
