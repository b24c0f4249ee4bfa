"""SigV2 verification against AWS's documented examples and requests signed by botocore."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3proxy import errors
from s3proxy.auth import sigv2
from s3proxy.auth.sigv2 import Scheme, auth_scheme, canonical_resources, verify
from s3proxy.auth.sigv4 import SignedRequest
from s3proxy.s3.errors import s3_error
from s3proxy.s3.routing import virtual_bucket

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
PREFIX = "/s3"  # the S3 route prefix the server is mounted at
ENDPOINT = "http://localhost:5000" + PREFIX
DOC_AK, DOC_SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = ("plain.txt", "dir/with space.txt", "ünïcødé/ключ.bin", "a+b%c&d=e.txt", "~tilde!*'()", "x//y")


def secrets(key: str) -> str | None:
    return {AK: SK, DOC_AK: DOC_SK}.get(key)


def error_of(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> errors.Error:
    with pytest.raises(errors.Error) as info:
        fn(*args, **kwargs)
    return info.value


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _abort(request: Any, **_: Any) -> None:
    raise _Sent(request)


def client(style: str = "path", token: str | None = None) -> Any:
    c = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK,
                     aws_session_token=token, region_name="us-east-1",
                     config=Config(signature_version="s3", s3={"addressing_style": style},
                                   retries={"max_attempts": 0}))
    c.meta.events.register("before-send", _abort)
    return c


def sent(style: str, operation: str, token: str | None = None, **params: Any) -> SignedRequest:
    """The request botocore puts on the wire for `operation`, as the server receives it."""
    with pytest.raises(_Sent) as info:
        getattr(client(style, token), operation)(**params)
    req = info.value.request
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()]
    parts = urlsplit(req.url)
    return SignedRequest.from_parts(req.method, parts.path, parts.query, [*headers, ("Host", parts.netloc)])


def check(req: SignedRequest, **kwargs: Any) -> sigv2.V2AuthResult:
    """Verify as the S3 handler would: the bucket of a virtual-host request comes from routing."""
    bucket = virtual_bucket(req.headers.get("host"))
    return verify(req, secrets, route_prefix=PREFIX, virtual_bucket=bucket, **kwargs)


def signed(method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
           token: str | None = None, resource: str | None = None) -> SignedRequest:
    """HmacV1Auth over an explicit request; `resource` is botocore's auth_path."""
    req = AWSRequest(method=method, url=f"http://h{PREFIX}{path}" + (f"?{query}" if query else ""),
                     headers=headers or {})
    req.auth_path = resource if resource is not None else path
    HmacV1Auth(Credentials(AK, SK, token)).add_auth(req)
    return SignedRequest.from_parts(method, PREFIX + path, query, list(req.headers.items()))


def altered(req: SignedRequest, *, method: str | None = None, path: str | None = None,
            query: str | None = None, set_headers: dict[str, str] | None = None,
            drop: tuple[str, ...] = ()) -> SignedRequest:
    headers = {k: v for k, v in req.headers.items() if k not in drop}
    headers.update({k.lower(): v for k, v in (set_headers or {}).items()})
    return SignedRequest(method or req.method, path or req.raw_path,
                         req.query if query is None else SignedRequest.from_parts("GET", "/", query, []).query,
                         headers)


# -- AWS documented examples ("Signing and authenticating REST requests") ---------------

DOC_CASES = [
    ("GET", "/photos/puppy.jpg", "", "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000", {},
     "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ("PUT", "/photos/puppy.jpg", "", "johnsmith", "Tue, 27 Mar 2007 21:15:45 +0000",
     {"Content-Type": "image/jpeg", "Content-Length": "94328"}, "MyyxeRY7whkBe+bq8fHCL/2kKUg="),
    ("GET", "/", "prefix=photos&max-keys=50&marker=puppy", "johnsmith", "Tue, 27 Mar 2007 19:42:41 +0000",
     {"User-Agent": "Mozilla/5.0"}, "htDYFYduRNen8P9ZfE/s9SuKy0U="),
    ("GET", "/", "acl", "johnsmith", "Tue, 27 Mar 2007 19:44:46 +0000", {}, "c2WLPFtWHVgbEmeEG93a4cG37dM="),
    ("GET", "/", "", None, "Wed, 28 Mar 2007 01:29:59 +0000", {}, "qGdzdERIC03wnaRNKh6OqZehG9s="),
    ("GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "", None, "Wed, 28 Mar 2007 01:49:49 +0000", {},
     "DNEZGsoieTZ92F3bUfSPQcbGmlM="),
]


@pytest.mark.parametrize(("method", "path", "query", "vhost", "date", "headers", "signature"), DOC_CASES)
def test_aws_doc_examples(method: str, path: str, query: str, vhost: str | None, date: str,
                          headers: dict[str, str], signature: str) -> None:
    host = f"{vhost}.s3.amazonaws.com" if vhost else "s3.amazonaws.com"
    pairs = [*headers.items(), ("Host", host), ("Date", date), ("Authorization", f"AWS {DOC_AK}:{signature}")]
    req = SignedRequest.from_parts(method, path, query, pairs)
    now = sigv2._epoch(date)
    result = verify(req, secrets, virtual_bucket=vhost, now=now)
    assert (result.access_key_id, result.session_token, result.presigned) == (DOC_AK, None, False)


def test_aws_doc_upload_with_amz_headers_and_cname_bucket() -> None:
    pairs = [("User-Agent", "curl/7.15.5"), ("Host", "static.johnsmith.net:8080"),
             ("Date", "Tue, 27 Mar 2007 21:06:08 +0000"), ("x-amz-acl", "public-read"),
             ("content-type", "application/x-download"), ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
             ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"), ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
             ("X-Amz-Meta-FileChecksum", "0x02661779"), ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
             ("Content-Disposition", "attachment; filename=database.dat"), ("Content-Encoding", "gzip"),
             ("Content-Length", "5913339"), ("Authorization", f"AWS {DOC_AK}:ilyl83RwaSoYIEdixDQcA4OnAnc=")]
    req = SignedRequest.from_parts("PUT", "/db-backup.dat.gz", "", pairs)
    verify(req, secrets, virtual_bucket="static.johnsmith.net", now=sigv2._epoch(req.get("date")))


def test_aws_doc_x_amz_date_example() -> None:
    """AWS's DELETE example signs the x-amz-date value on the date line."""
    req = SignedRequest.from_parts("DELETE", "/johnsmith/photos/puppy.jpg", "", [
        ("User-Agent", "dotnet"), ("Host", "s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
        ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ("Authorization", f"AWS {DOC_AK}:lx3byBScXR6KzyMaifNkardMwNk=")])
    verify(req, secrets, now=sigv2._epoch("Tue, 27 Mar 2007 21:20:26 +0000"))


def test_aws_doc_query_string_example() -> None:
    req = SignedRequest.from_parts("GET", "/photos/puppy.jpg", f"AWSAccessKeyId={DOC_AK}&"
                                   "Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620",
                                   [("Host", "johnsmith.s3.amazonaws.com")])
    assert verify(req, secrets, virtual_bucket="johnsmith", now=1175139000).presigned
    assert error_of(verify, req, secrets, virtual_bucket="johnsmith", now=1175139621).message == \
        "Request has expired"


# -- botocore clients ---------------------------------------------------------------------

@pytest.mark.parametrize("style", ["path", "virtual"])
@pytest.mark.parametrize("key", KEYS)
def test_client_object_operations(style: str, key: str) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_object", {"ResponseContentType": "text/plain; charset=utf-8",
                        "ResponseContentDisposition": 'attachment; filename="ü x.txt"'}),
        ("put_object", {"Body": b"hello", "ContentType": "text/plain", "ContentMD5": "XUFAKrxLKna5cZ2REBfFkg==",
                        "Metadata": {"a": " spaced value ", "b": "x,y"}, "ACL": "public-read"}),
        ("delete_object", {}),
        ("head_object", {}),
        ("get_object_tagging", {}),
        ("get_object_acl", {}),
        ("create_multipart_upload", {"ContentType": "image/png"}),
        ("upload_part", {"UploadId": "abc+/=def", "PartNumber": 7, "Body": b"x"}),
        ("list_parts", {"UploadId": "abc+/=def"}),
        ("abort_multipart_upload", {"UploadId": "abc+/=def"}),
        ("copy_object", {"CopySource": {"Bucket": "src", "Key": "ü k"}}),
    ]
    for operation, params in calls:
        req = sent(style, operation, Bucket="bkt", Key=key, **params)
        assert auth_scheme(req) is Scheme.SIGV2
        assert req.headers["host"].startswith("bkt.") == (style == "virtual")
        result = check(req)
        assert (result.access_key_id, result.presigned) == (AK, False), operation


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_client_bucket_and_service_operations(style: str) -> None:
    for operation, params in [("list_objects", {"Prefix": "a b/", "Delimiter": "/"}),
                              ("list_objects_v2", {"Prefix": "x"}), ("get_bucket_acl", {}),
                              ("list_multipart_uploads", {}), ("list_object_versions", {}),
                              ("head_bucket", {}), ("create_bucket", {}), ("delete_bucket", {}),
                              ("get_bucket_location", {}), ("get_bucket_versioning", {}),
                              ("delete_objects", {"Delete": {"Objects": [{"Key": "a"}]}})]:
        check(sent(style, operation, Bucket="bkt", **params))
    check(sent("path", "list_buckets"))


def test_session_token_passes_through() -> None:
    result = check(sent("path", "get_object", token="user.jwt.token", Bucket="bkt", Key="k"))
    assert result.session_token == "user.jwt.token"


def test_presigned_urls() -> None:
    c = client()
    url = c.generate_presigned_url("get_object", ExpiresIn=600, Params={
        "Bucket": "bkt", "Key": "ü dir/a+b.txt", "ResponseContentType": "text/plain; x=1",
        "ResponseContentDisposition": "inline", "VersionId": "v+1"})
    parts = urlsplit(url)
    req = SignedRequest.from_parts("GET", parts.path, parts.query, [("Host", parts.netloc)])
    assert auth_scheme(req) is Scheme.SIGV2
    result = check(req)
    assert result.presigned and result.query_headers == {}
    expires = int(req.query_value("Expires") or 0)
    check(req, now=expires)
    assert error_of(check, req, now=expires + 1).message == "Request has expired"


def test_presigned_put_carries_signed_headers_in_query() -> None:
    c = client(token="tok")
    url = c.generate_presigned_url("put_object", Params={
        "Bucket": "bkt", "Key": "k", "ContentType": "image/png", "Metadata": {"owner": "me"}})
    parts = urlsplit(url)
    req = SignedRequest.from_parts("PUT", parts.path, parts.query, [("Host", parts.netloc)])
    result = check(req)
    assert result.session_token == "tok"
    assert result.query_headers == {"content-type": "image/png", "x-amz-meta-owner": "me",
                                    "x-amz-security-token": "tok"}
    assert result.effective_headers({"content-type": "text/html", "content-length": "3"}) == {
        "content-type": "image/png", "content-length": "3", "x-amz-meta-owner": "me",
        "x-amz-security-token": "tok"}
    # the same values sent again as headers are fine; contradicting ones are not
    check(altered(req, set_headers={"Content-Type": "image/png", "x-amz-meta-owner": "me"}))
    for header in ({"Content-Type": "text/html"}, {"x-amz-meta-owner": "you"}, {"x-amz-acl": "public-read"}):
        assert error_of(check, altered(req, set_headers=header)).code == "SignatureDoesNotMatch"


def test_query_auth_signer_with_md5_type_and_metadata() -> None:
    headers = {"Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "Content-Type": "text/plain", "x-amz-meta-k": "v"}
    req = AWSRequest(method="PUT", url=f"http://h{PREFIX}/bkt/a%20b?uploadId=u&partNumber=1", headers=headers)
    req.auth_path = "/bkt/a%20b"
    HmacV1QueryAuth(Credentials(AK, SK), expires=60).add_auth(req)
    parts = urlsplit(req.url)
    received = SignedRequest.from_parts("PUT", parts.path, parts.query, [("Host", parts.netloc)])
    result = check(received)
    assert result.query_headers == {k.lower(): v for k, v in headers.items()}
    # the body reader then checks the body against the signed Content-MD5
    assert result.effective_headers({})["content-md5"] == "XUFAKrxLKna5cZ2REBfFkg=="
    tampered = parts.query.replace("XUFAKrxLKna5cZ2REBfFkg", "AAAAKrxLKna5cZ2REBfFkg")
    forged = SignedRequest.from_parts("PUT", parts.path, tampered, [("Host", parts.netloc)])
    assert error_of(check, forged).code == "SignatureDoesNotMatch"


def test_raw_plus_in_query_signature() -> None:
    req = SignedRequest.from_parts("GET", "/photos/puppy.jpg", f"AWSAccessKeyId={DOC_AK}&"
                                   "Signature=NpgCjnDzrM+WFzoENXmpNDUsSn8=&Expires=1175139620", [])
    verify(req, secrets, virtual_bucket="johnsmith", now=1175139000)


# -- tampering ----------------------------------------------------------------------------

def test_each_component_is_signed() -> None:
    headers = {"Content-Type": "text/plain", "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==",
               "x-amz-meta-a": "1", "x-amz-acl": "private"}
    req = signed("PUT", "/bkt/dir/k%20x", "partNumber=2&uploadId=u1", headers, token="tok")
    check(req)
    date = formatdate(time.time() - 60, usegmt=True)
    tampered = [
        altered(req, method="POST"),
        altered(req, path=PREFIX + "/bkt/dir/k%20y"),
        altered(req, path=PREFIX + "/other/dir/k%20x"),
        altered(req, query="partNumber=3&uploadId=u1"),
        altered(req, query="partNumber=2&uploadId=u2"),
        altered(req, query="partNumber=2"),
        altered(req, query="partNumber=2&uploadId=u1&acl"),
        altered(req, query="partNumber=2&uploadId=u1&response-content-type=text%2Fhtml"),
        altered(req, set_headers={"Content-Type": "text/html"}),
        altered(req, drop=("content-type",)),
        altered(req, set_headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}),
        altered(req, drop=("content-md5",)),
        altered(req, set_headers={"Date": date}),
        altered(req, set_headers={"x-amz-meta-a": "2"}),
        altered(req, drop=("x-amz-meta-a",)),
        altered(req, set_headers={"x-amz-meta-b": "1"}),
        altered(req, set_headers={"x-amz-copy-source": "/bkt/secret"}),
        altered(req, set_headers={"x-amz-security-token": "other"}),
        altered(req, set_headers={"Authorization": req.headers["authorization"][:-3] + "AA="}),
    ]
    for request in tampered:
        assert error_of(check, request).code == "SignatureDoesNotMatch", request
    # unsigned parts: other query parameters and ordinary headers
    check(altered(req, query="partNumber=2&uploadId=u1&x-id=UploadPart", set_headers={"User-Agent": "x"}))
    assert error_of(verify, req, lambda _k: "nope", route_prefix=PREFIX).code == "SignatureDoesNotMatch"
    assert error_of(verify, req, lambda _k: None, route_prefix=PREFIX).code == "InvalidAccessKeyId"


def test_subresource_rules() -> None:
    """Sorted by name, valueless ones bare, values decoded; duplicates kept in order."""
    req = signed("GET", "/bkt/k", "versionId=v%2F1&response-expires=Thu%2C%2001%20Dec%201994&acl")
    check(req)
    assert canonical_resources(PREFIX + "/bkt/k", req.query, route_prefix=PREFIX) == [
        "/bkt/k?acl&response-expires=Thu, 01 Dec 1994&versionId=v/1"]
    check(altered(req, query="acl&versionId=v%2F1&response-expires=Thu%2C%2001%20Dec%201994"))


def test_resource_forms() -> None:
    assert canonical_resources("/s3", [], route_prefix="/s3") == ["/", "/s3"]
    assert canonical_resources("/s3/", [], route_prefix="/s3") == ["/"]
    assert canonical_resources("/storage/v1/s3", [], route_prefix="/storage/v1/s3") == ["/"]
    assert canonical_resources("/s3/bkt", [], route_prefix="/s3") == ["/bkt/"]
    assert canonical_resources("/s3/bkt/", [], route_prefix="/s3") == ["/bkt/"]
    assert canonical_resources("/s3/bkt/a/", [], route_prefix="/s3") == ["/bkt/a/"]
    assert canonical_resources("/s3", [], route_prefix="/s3", virtual_bucket="bkt") == ["/bkt/"]
    assert canonical_resources("/s3/k%20", [("uploads", "")], route_prefix="/s3", virtual_bucket="bkt") == \
        ["/bkt/k%20?uploads"]


def test_listbuckets_signature_is_not_a_bucket_signature() -> None:
    """Botocore signs ListBuckets over `/s3`: that must not open bucket `s3` (`/s3/`)."""
    listing = sent("path", "list_buckets")
    check(listing)
    as_bucket = altered(listing, path=PREFIX + "/s3")
    assert error_of(check, as_bucket).code == "SignatureDoesNotMatch"


# -- time ---------------------------------------------------------------------------------

def test_clock_skew_on_date() -> None:
    req = signed("GET", "/bkt/k")
    check(req, now=time.time() + 14 * 60)
    for delta in (16 * 60, -16 * 60):
        err = error_of(check, req, now=time.time() + delta)
        assert (err.code, s3_error(err).status) == ("RequestTimeTooSkewed", 403)


def test_x_amz_date_takes_precedence() -> None:
    amz_date = formatdate(time.time(), usegmt=True)
    req = signed("GET", "/bkt/k", headers={"x-amz-date": amz_date})
    # botocore signs its Date too; AWS's rule leaves the date line empty when x-amz-date is sent
    parsed = sigv2.parse_auth(req)
    assert parsed.date_line == "" and parsed.amz_headers["x-amz-date"] == amz_date
    own = sigv2.sign(SK, sigv2.string_to_sign("GET", parsed, "/bkt/k"))
    req = altered(req, set_headers={"Authorization": f"AWS {AK}:{own}", "Date": "garbage"})
    check(req)
    old = formatdate(time.time() - 3600, usegmt=True)
    assert error_of(check, altered(req, set_headers={"x-amz-date": old})).code == "RequestTimeTooSkewed"
    iso = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parsed = sigv2.parse_auth(altered(req, set_headers={"x-amz-date": iso}))
    assert parsed.date_line == ""


@pytest.mark.parametrize("date", [None, "", "Bad Date", "Tue, 07 Jul 1950 21:53:04 GMT"])
def test_missing_or_invalid_date(date: str | None) -> None:
    req = altered(signed("GET", "/bkt/k"), drop=("date",),
                  set_headers={} if date is None else {"Date": date})
    err = error_of(check, req)
    assert (err.code, s3_error(err).status, err.message) == (
        "AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header")


def test_date_far_in_the_future() -> None:
    req = altered(signed("GET", "/bkt/k"), set_headers={"Date": "Tue, 07 Jul 9999 21:53:04 GMT"})
    assert error_of(check, req).code == "RequestTimeTooSkewed"


# -- malformed ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["AWS HAHAHA", "AWS :sig", f"AWS {AK}:", "AWS  ", f"AWS\t{AK}:x"])
def test_malformed_authorization_header(value: str) -> None:
    req = altered(signed("GET", "/bkt/k"), set_headers={"Authorization": value})
    err = error_of(check, req)
    assert (err.code, s3_error(err).status) == ("InvalidArgument", 400)
    assert err.message == "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"


def test_non_ascii_signature_is_a_mismatch() -> None:
    req = altered(signed("GET", "/bkt/k"), set_headers={"Authorization": f"AWS {AK}:é€"})
    assert error_of(check, req).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("query", [
    f"AWSAccessKeyId={AK}&Signature=x",
    f"AWSAccessKeyId={AK}&Expires=99999999999",
    "Signature=x&Expires=99999999999",
    "AWSAccessKeyId=&Signature=x&Expires=99999999999",
])
def test_query_parameters_required(query: str) -> None:
    err = error_of(check, SignedRequest.from_parts("GET", "/s3/bkt/k", query, []))
    assert (err.code, s3_error(err).status) == ("AccessDenied", 403)
    assert err.message == "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"


@pytest.mark.parametrize("expires", ["soon", "-5", "1e9", "١٢٣"])
def test_garbled_expires(expires: str) -> None:
    req = SignedRequest("GET", "/s3/bkt/k", [("AWSAccessKeyId", AK), ("Signature", "x"), ("Expires", expires)])
    err = error_of(check, req)
    assert (err.code, err.message) == ("AccessDenied", f"Invalid date (should be seconds since epoch): {expires}")


# -- dispatch -----------------------------------------------------------------------------

def test_auth_scheme() -> None:
    def scheme(query: str = "", **headers: str) -> Scheme:
        return auth_scheme(SignedRequest.from_parts("GET", "/s3/b/k", query, list(headers.items())))

    assert scheme() is Scheme.ANONYMOUS
    assert scheme("Expires=5&prefix=a") is Scheme.ANONYMOUS
    assert scheme(Authorization="AWS a:b") is Scheme.SIGV2
    assert scheme(Authorization="AWS4-HMAC-SHA256 Credential=x") is Scheme.SIGV4
    assert scheme(Authorization="Bearer x") is Scheme.SIGV4  # sigv4 answers "unsupported mechanism"
    assert scheme("AWSAccessKeyId=a") is Scheme.SIGV2
    assert scheme("Signature=a") is Scheme.SIGV2
    assert scheme("X-Amz-Credential=a") is Scheme.SIGV4
    for query, headers in [("Signature=a", {"Authorization": "AWS a:b"}),
                           ("X-Amz-Signature=a", {"Authorization": "AWS a:b"}),
                           ("X-Amz-Algorithm=a&Signature=b", {})]:
        err = error_of(scheme, query, **headers)
        assert (err.code, s3_error(err).status) == ("InvalidArgument", 400) and "Only one auth mechanism" in err.message
