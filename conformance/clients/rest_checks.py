"""Raw HTTP (httpx): the wire shapes clients rely on, for REST JSON and S3 XML.

These are the envelopes storage-js, storage3 and botocore parse: REST errors are JSON
with string `statusCode`, `error`, `message`, `code` (HTTP 400 for handled errors);
S3 errors are XML `<Error><Code/><Message/></Error>` with the real status.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from conformance.clients.common import rest_delete_bucket, rest_http
from conformance.runner import Context, Skip, check, ensure, equal, requirement
from conformance.target import Target, mint_jwt

C = "http"


@requirement(C)
def _needs(target: Target) -> str | None:
    return None if target.has_rest or target.has_s3 else "no endpoint configured"


def http(ctx: Context) -> httpx.Client:
    if not ctx.target.has_rest:
        raise Skip("no REST endpoint configured")
    return ctx.once("http", lambda: rest_http(ctx.target))


def anon(ctx: Context) -> httpx.Client:
    return ctx.once("anon", lambda: httpx.Client(base_url=ctx.target.rest_url or "", timeout=60))


def bucket(ctx: Context, public: bool = False) -> str:
    name = ctx.name("http")
    r = http(ctx).post("bucket", json={"name": name, "public": public})
    equal(r.status_code, 200, f"create bucket ({r.text[:200]})")
    ctx.defer(rest_delete_bucket, http(ctx), name)
    return name


def with_object(ctx: Context, body: bytes = b"0123456789", ctype: str = "text/plain", public: bool = False,
                key: str = "dir/obj.txt") -> str:
    b = bucket(ctx, public)
    r = http(ctx).post(f"object/{b}/{key}", content=body, headers={"content-type": ctype})
    equal(r.status_code, 200, f"upload ({r.text[:200]})")
    return b


def rest_error(r: httpx.Response, http_status: int, status_code: str, code: str | None = None) -> dict[str, Any]:
    """The Supabase error envelope: all four keys, statusCode a string."""
    equal(r.status_code, http_status, f"HTTP status ({r.text[:200]})")
    try:
        body = r.json()
    except ValueError as exc:
        raise AssertionError(f"error body is not JSON: {r.text[:200]!r}") from exc
    for key in ("statusCode", "error", "message"):
        ensure(isinstance(body.get(key), str) and body[key], f"body has a non-empty string {key!r}: {body}")
    equal(body["statusCode"], status_code, "body statusCode")
    if code is not None:
        equal(body.get("code"), code, "body code")
    return body  # type: ignore[no-any-return]


# --- REST envelope ----------------------------------------------------------------------


@check(C, "rest: GET /status answers 200")
def _(ctx: Context) -> None:
    http(ctx)
    equal(anon(ctx).get("status").status_code, 200, "status")


@check(C, "rest: a request without Authorization is HTTP 400 with the JSON error envelope")
def _(ctx: Context) -> None:
    http(ctx)
    r = anon(ctx).get("bucket")
    equal(r.status_code, 400, "HTTP status")
    body = r.json()
    ensure(all(isinstance(body.get(k), str) for k in ("statusCode", "error", "message")), f"envelope: {body}")


@check(C, "rest: a malformed JWT is HTTP 400, statusCode 403, code AccessDenied")
def _(ctx: Context) -> None:
    http(ctx)
    rest_error(anon(ctx).get("bucket", headers={"Authorization": "Bearer not.a.jwt"}), 400, "403", "AccessDenied")


@check(C, "rest: an expired JWT is HTTP 400, statusCode 403")
def _(ctx: Context) -> None:
    http(ctx)
    if not ctx.target.jwt_secret:
        raise Skip("needs --jwt-secret to mint an expired token")
    token = mint_jwt(ctx.target.jwt_secret, "service_role", exp=-60)
    rest_error(anon(ctx).get("bucket", headers={"Authorization": f"Bearer {token}"}), 400, "403", "AccessDenied")


@check(C, "rest: emptying a bucket needs service_role (anon gets HTTP 403)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    if not ctx.target.anon_jwt:
        raise Skip("needs an anon JWT (--anon-jwt or --jwt-secret)")
    r = anon(ctx).post(f"bucket/{b}/empty", json={}, headers={"Authorization": f"Bearer {ctx.target.anon_jwt}"})
    rest_error(r, 403, "403", "AccessDenied")


@check(C, "rest: an unknown route is HTTP 404 with statusCode 404")
def _(ctx: Context) -> None:
    rest_error(http(ctx).get("bucket/x/no-such-route"), 404, "404")


@check(C, "rest: a missing object is HTTP 400, statusCode 404, code NoSuchKey")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    body = rest_error(http(ctx).get(f"object/{b}/nope.txt"), 400, "404", "NoSuchKey")
    equal(body["error"], "not_found", "error")


@check(C, "rest: uploading into a missing bucket is statusCode 404, code NoSuchBucket")
def _(ctx: Context) -> None:
    r = http(ctx).post(f"object/{ctx.name('missing')}/k.txt", content=b"x", headers={"content-type": "text/plain"})
    rest_error(r, 400, "404", "NoSuchBucket")


@check(C, "rest: a duplicate bucket is statusCode 409, error Duplicate")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    body = rest_error(http(ctx).post("bucket", json={"name": b}), 400, "409")
    equal(body["error"], "Duplicate", "error")


@check(C, "rest: an invalid bucket name is statusCode 400, code InvalidBucketName")
def _(ctx: Context) -> None:
    rest_error(http(ctx).post("bucket", json={"name": "bad/name"}), 400, "400", "InvalidBucketName")


@check(C, "rest: a key with a control character is refused with code InvalidKey")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    r = http(ctx).post(f"object/{b}/bad%01key.txt", content=b"x", headers={"content-type": "text/plain"})
    rest_error(r, 400, "400", "InvalidKey")


@check(C, "rest: HEAD on a missing object is HTTP 400 with no body")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    r = http(ctx).head(f"object/{b}/none.txt")
    equal((r.status_code, r.content), (400, b""), "status, body")


@check(C, "rest: HEAD on an object gives length, type and ETag without a body")
def _(ctx: Context) -> None:
    b = with_object(ctx, b"12345", "text/csv")
    r = http(ctx).head(f"object/{b}/dir/obj.txt")
    equal((r.status_code, r.headers.get("content-length"), r.content), (200, "5", b""), "status, length, body")
    ensure(r.headers.get("content-type", "").startswith("text/csv"), f"content-type {r.headers.get('content-type')}")
    ensure(r.headers.get("etag"), "etag header")


@check(C, "rest: Range request is 206 with Content-Range")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    r = http(ctx).get(f"object/{b}/dir/obj.txt", headers={"Range": "bytes=2-4"})
    equal((r.status_code, r.content, r.headers.get("content-range")), (206, b"234", "bytes 2-4/10"), "range")


@check(C, "rest: If-None-Match with the ETag is 304 with an empty body")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    etag = http(ctx).get(f"object/{b}/dir/obj.txt").headers["etag"]
    r = http(ctx).get(f"object/{b}/dir/obj.txt", headers={"If-None-Match": etag})
    equal((r.status_code, r.content), (304, b""), "status, body")


@check(C, "rest: ?download=name answers Content-Disposition attachment with that filename")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    cd = http(ctx).get(f"object/{b}/dir/obj.txt", params={"download": "report.txt"}).headers.get("content-disposition", "")
    ensure(cd.startswith("attachment") and "report.txt" in cd, f"content-disposition {cd!r}")


@check(C, "rest: text/html objects are not served as text/html")
def _(ctx: Context) -> None:
    b = with_object(ctx, b"<script>alert(1)</script>", "text/html")
    ctype = http(ctx).get(f"object/{b}/dir/obj.txt").headers.get("content-type", "")
    ensure("text/html" not in ctype, f"content-type {ctype!r}")


@check(C, "rest: x-metadata (base64 JSON) is returned as metadata by /object/info")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    meta = base64.b64encode(json.dumps({"k": "v"}).encode()).decode()
    http(ctx).post(f"object/{b}/m.txt", content=b"x", headers={"content-type": "text/plain", "x-metadata": meta})
    info = http(ctx).get(f"object/info/{b}/m.txt").json()
    equal(info.get("metadata"), {"k": "v"}, "metadata")
    for key in ("id", "name", "size", "content_type", "etag", "last_modified", "created_at"):
        ensure(key in info, f"info has {key!r}: {sorted(info)}")


@check(C, "rest: a public bucket serves /object/public/ without credentials")
def _(ctx: Context) -> None:
    b = with_object(ctx, public=True)
    r = anon(ctx).get(f"object/public/{b}/dir/obj.txt")
    equal((r.status_code, r.content), (200, b"0123456789"), "GET")


@check(C, "rest: a private bucket refuses /object/public/ without credentials")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    ensure(anon(ctx).get(f"object/public/{b}/dir/obj.txt").status_code == 400, "HTTP 400")


@check(C, "rest: sign answers signedURL; a tampered token is refused")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    signed = http(ctx).post(f"object/sign/{b}/dir/obj.txt", json={"expiresIn": 60}).json()["signedURL"]
    ensure(signed.startswith(f"/object/sign/{b}/dir/obj.txt?token="), f"signedURL {signed}")
    equal(anon(ctx).get(signed.lstrip("/")).content, b"0123456789", "signed GET")
    r = anon(ctx).get(signed.lstrip("/")[:-3] + "abc")
    rest_error(r, 400, "400")


@check(C, "rest: a signed token for one key does not open another")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    http(ctx).post(f"object/{b}/other.txt", content=b"secret", headers={"content-type": "text/plain"})
    signed = http(ctx).post(f"object/sign/{b}/dir/obj.txt", json={"expiresIn": 60}).json()["signedURL"]
    token = signed.split("token=")[1]
    rest_error(anon(ctx).get(f"object/sign/{b}/other.txt", params={"token": token}), 400, "400")


@check(C, "rest: a download token cannot be used to upload")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    token = http(ctx).post(f"object/sign/{b}/dir/obj.txt", json={"expiresIn": 60}).json()["signedURL"].split("token=")[1]
    r = anon(ctx).put(f"object/upload/sign/{b}/dir/obj.txt", params={"token": token}, content=b"overwrite",
                      headers={"content-type": "text/plain"})
    rest_error(r, 400, "400")
    equal(http(ctx).get(f"object/{b}/dir/obj.txt").content, b"0123456789", "object unchanged")


@check(C, "rest: expiresIn below 1 is refused")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    rest_error(http(ctx).post(f"object/sign/{b}/dir/obj.txt", json={"expiresIn": 0}), 400, "400")


@check(C, "rest: move answers exactly {message: 'Successfully moved'}")
def _(ctx: Context) -> None:
    b = with_object(ctx)
    r = http(ctx).post("object/move", json={"bucketId": b, "sourceKey": "dir/obj.txt", "destinationKey": "moved.txt"})
    equal(r.json(), {"message": "Successfully moved"}, "body")


@check(C, "rest: upload answers Id and Key 'bucket/key'")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    body = http(ctx).post(f"object/{b}/a/b.txt", content=b"x", headers={"content-type": "text/plain"}).json()
    equal(body.get("Key"), f"{b}/a/b.txt", "Key")
    ensure(re.fullmatch(r"[0-9a-f-]{36}", str(body.get("Id"))), f"Id is a UUID: {body.get('Id')}")


# --- S3 wire shapes ---------------------------------------------------------------------


def s3_raw(ctx: Context, path: str) -> httpx.Response:
    if not ctx.target.has_s3:
        raise Skip("no S3 endpoint configured")
    return httpx.get(f"{ctx.target.s3_url}/{path}", timeout=30)


@check(C, "s3: an unsigned request is 403 with an XML <Error> carrying Code and Message")
def _(ctx: Context) -> None:
    r = s3_raw(ctx, "")
    equal(r.status_code, 403, "status")
    ensure(re.search(rb"<Error>\s*(<[^>]+>[^<]*</[^>]+>\s*)*<Code>AccessDenied</Code>", r.content), f"body {r.text[:300]}")
    ensure(b"<Message>" in r.content, "Message element")


@check(C, "s3: the <Error> root has no XML namespace (botocore needs that to read Code)")
def _(ctx: Context) -> None:
    r = s3_raw(ctx, "some-bucket/some-key")
    ensure(re.search(rb"<Error>", r.content) and not re.search(rb"<Error\s+xmlns", r.content), f"body {r.text[:300]}")
    ensure("xml" in r.headers.get("content-type", ""), f"content-type {r.headers.get('content-type')}")


@check(C, "cors: a browser preflight on the REST API is answered and responses carry Allow-Origin")
def _rest_preflight(ctx: Context) -> None:
    b = with_object(ctx)
    url = f"object/{b}/dir/obj.txt"
    r = anon(ctx).options(url, headers={"Origin": "http://app.test", "Access-Control-Request-Method": "GET",
                                        "Access-Control-Request-Headers": "authorization"})
    equal(r.status_code, 200, f"preflight status ({r.text[:200]})")
    ensure(r.headers.get("access-control-allow-origin") in ("*", "http://app.test"), "preflight Allow-Origin")
    ensure("authorization" in r.headers.get("access-control-allow-headers", "").lower(), "preflight Allow-Headers")
    got = http(ctx).get(url, headers={"Origin": "http://app.test"})
    ensure(got.headers.get("access-control-allow-origin") in ("*", "http://app.test"), "response Allow-Origin")


@check(C, "prefix: the REST API answers under /storage/v1 as supabase-js's createClient calls it")
def _storage_v1(ctx: Context) -> None:
    b = with_object(ctx)
    r = http(ctx).get(f"storage/v1/object/{b}/dir/obj.txt")
    equal(r.status_code, 200, f"GET under /storage/v1 ({r.text[:200]})")
    equal(r.content, b"0123456789", "object bytes")
