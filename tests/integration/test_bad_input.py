"""Bad input gets a 4xx in the protocol's own format, never a 500 (issue 15 §2).

One table: each row sends one bad input to a live server (both backends) and says
what a correct answer is: REST errors are Supabase's JSON envelope
`{statusCode, error, message, code}` (HTTP 400 with the real status in `statusCode`,
or the real status where the reference keeps it), S3 errors are AWS's well-formed
`<Error><Code>…` with AWS's status. Rows marked `ok_or(...)` may also succeed, where
AWS or Supabase would accept the input; what they may never do is fail with a 5xx.
The last test reads the server's log: no traceback and no 5xx for any of it.

Requests are sent raw (`tests/integration/wire.py`) wherever a client library would
refuse the input or repair it: `%00` and `..` in paths, NUL in JSON strings, corrupt
SigV4 headers and presigned queries, broken framing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt as pyjwt
import pytest

from tests.integration.s3_support import s3_client
from tests.integration.wire import (
    Answer,
    assert_rest_error,
    assert_s3_error,
    exchange,
    faults,
    from_httpx,
    log_since,
    log_size,
    parse_xml,
    raw_exchange,
    s3_call,
    sign_s3,
)
from tests.rig import Server

DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000  # 5,000 levels: past Python's recursion limit
DEEP_ARRAY = "[" * 5000 + "]" * 5000
HUGE = str(2**63)  # past bigint
HUGER = str(2**70)
INT32_OVER = str(2**31)  # past Postgres integer (part numbers)


@dataclass
class Env:
    """What the rows need: the server, a bucket holding `present.txt`, an open
    multipart upload of `mp` with one part, and the log offset at the start."""

    server: Server
    bucket: str
    upload_id: str
    log_start: int
    key: str = "present.txt"

    # REST

    def rest(self, method: str, target: str, *, body: Any = None, content: bytes | None = None,
             headers: dict[str, str] | None = None, token: str | None = "service") -> Answer:
        """A REST request to `target` (sent as is), JSON `body` or raw `content`."""
        h = dict(headers or {})
        if token is not None:
            h.setdefault("Authorization", f"Bearer {self.server.service_token if token == 'service' else token}")
        data = content
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return exchange(self.server.url, method, target, h, data)

    def form(self, target: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
        """A multipart/form-data upload: `fields` first, then the file part."""
        files: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        files["file"] = ("f.txt", b"form body", "text/plain")
        with httpx.Client(base_url=self.server.url, headers=self.server.headers(), timeout=30) as c:
            return from_httpx(c.post(target.lstrip("/"), files=files, headers=headers or {}))

    # S3

    def s3(self, method: str, target: str, **kw: Any) -> Answer:
        return s3_call(self.server, method, target, **kw)

    def s3_doc(self, method: str, target: str, document: bytes) -> Answer:
        """An XML request body, with the Content-MD5 DeleteObjects and tagging require."""
        md5 = base64.b64encode(hashlib.md5(document).digest()).decode()
        return self.s3(method, target, body=document, headers={"content-md5": md5})


Check = Callable[[Answer], None]


@dataclass(frozen=True)
class Case:
    id: str
    send: Callable[[Env], Answer]
    check: Check


def rest_error(*pairs: tuple[str, str], http: int | Iterable[int] = 400) -> Check:
    """The Supabase envelope with one of these (statusCode, code) pairs."""

    def check(answer: Answer) -> None:
        assert_rest_error(answer, pairs, http)

    return check


def s3_error(*pairs: tuple[str, int]) -> Check:
    """An S3 <Error> with one of these (Code, status) pairs."""

    def check(answer: Answer) -> None:
        assert_s3_error(answer, pairs)

    return check


def rest_nul(*pairs: tuple[str, str]) -> Check:
    """A NUL refused: the envelope's 400 with a validation code, or one of `pairs`."""
    return rest_error(*REST_NUL, *pairs)


def s3_nul(*pairs: tuple[str, int]) -> Check:
    """A NUL refused: a 400 with a validation code, or one of `pairs`."""
    return s3_error(*S3_NUL, *pairs)


def success(answer: Answer) -> None:
    assert 200 <= answer.status < 300, f"expected success: {answer}"
    if (answer.header("content-type") or "").startswith("application/xml") and answer.body:
        parse_xml(answer)


def ok_or(check: Check) -> Check:
    """Success, or else `check`'s error."""

    def either(answer: Answer) -> None:
        if 200 <= answer.status < 300:
            success(answer)
        else:
            check(answer)

    return either


def framing_rejected(answer: Answer) -> None:
    """Broken HTTP framing: tornado answers 400 itself, before any protocol handler
    exists to write its own format."""
    assert answer.status == 400, f"expected 400 for broken framing: {answer}"


# the answers a rejected name or parameter may get
BAD_KEY = ("400", "InvalidKey")
BAD_BUCKET = (("400", "InvalidBucketName"), ("404", "NoSuchBucket"))
BAD_REQUEST = (("400", "InvalidRequest"), ("400", "InvalidParameter"))
JSON_TOO_DEEP = BAD_REQUEST
S3_ARGUMENT = ("InvalidArgument", 400)
S3_BAD_BUCKET = (("InvalidBucketName", 400), ("NoSuchBucket", 404))
# a NUL may be refused at the edge, whatever part of the request holds it (issue 15 §2)
REST_NUL = tuple(("400", code) for code in ("InvalidRequest", "InvalidParameter", "InvalidKey", "InvalidBucketName"))
S3_NUL = tuple((code, 400) for code in ("InvalidArgument", "InvalidKey", "InvalidBucketName", "InvalidRequest"))
METADATA_TOO_LARGE = ("413", "EntityTooLarge")  # a size cap on user metadata may catch deep JSON first


def b64json(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def jwt_with_payload(server: Server, payload: str) -> str:
    """An HS256 token over an arbitrary payload text, signed with the server's secret."""
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    sig = hmac.new(server.jwt_secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def xml_bomb(root: str, inner: str) -> bytes:
    """Billion laughs: entities expanding to gigabytes if a parser resolves them."""
    ents = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{ents}]>{inner.replace("BOMB", "&l9;")}'.encode()


def xxe(root: str, inner: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'{inner.replace("BOMB", "&x;")}').encode()


DELETE_DOC = "<Delete><Object><Key>BOMB</Key></Object></Delete>"
COMPLETE_DOC = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>BOMB</ETag></Part></CompleteMultipartUpload>"
TAGGING_DOC = "<Tagging><TagSet><Tag><Key>k</Key><Value>BOMB</Value></Tag></TagSet></Tagging>"


def complete_doc(part_number: str) -> bytes:
    return (f"<CompleteMultipartUpload><Part><PartNumber>{part_number}</PartNumber><ETag>\"x\"</ETag></Part>"
            "</CompleteMultipartUpload>").encode()


def presigned(env: Env, mutate: Callable[[str], str]) -> Answer:
    """A presigned GetObject URL of the present object, corrupted by `mutate`."""
    url = s3_client(env.server).generate_presigned_url(
        "get_object", Params={"Bucket": env.bucket, "Key": env.key}, ExpiresIn=300)
    target = mutate(url[len(env.server.s3_url):])
    return exchange(env.server.s3_url, "GET", target)


def corrupt_auth(env: Env, mutate: Callable[[dict[str, str]], None]) -> Answer:
    """A header-signed ListObjectsV2 whose signed headers `mutate` corrupts."""
    target = f"/{env.bucket}?list-type=2"
    headers = sign_s3(env.server, "GET", target)
    mutate(headers)
    return exchange(env.server.s3_url, "GET", target, headers)


def framing(port_of: Callable[[Server], int], path: str, content_length: str) -> Callable[[Env], Answer]:
    """A PUT whose Content-Length is not a length; no answer at all counts as status 0."""

    def send(env: Env) -> Answer:
        target = path.format(bucket=env.bucket)
        answer = raw_exchange(port_of(env.server), (
            f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {content_length}\r\n\r\n").encode())
        return answer or Answer(0)

    return send


def headers_past_limit(port_of: Callable[[Server], int], path: str) -> Callable[[Env], Answer]:
    """A request whose headers are larger than the server reads (tornado: 64 KiB)."""

    def send(env: Env) -> Answer:
        head = f"GET {path.format(bucket=env.bucket)} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-filler: {'v' * 70_000}\r\n\r\n"
        return raw_exchange(port_of(env.server), head.encode()) or Answer(0)

    return send


def refused_or_closed(answer: Answer) -> None:
    """Headers past the server's limit: a 4xx (400 or 431), or the connection closed
    unanswered, which is what tornado does before any handler exists (so neither can
    be in a protocol's format)."""
    assert answer.status == 0 or 400 <= answer.status < 500, f"expected a 4xx or no answer: {answer}"


def main_port(s: Server) -> int:
    return s.port


def s3_port(s: Server) -> int:
    return s.s3_port


def nul_meta(name: str, value: str) -> dict[str, str]:
    """x-metadata (base64 JSON) whose key or value holds a NUL."""
    return {"x-metadata": b64json(json.dumps({name: value}))}


TRAVERSAL_KEYS = ["../x", "a/../../x", "..%2Fx", "%2e%2e/x", "a/..", "./x", "a/./b"]
# keys the API accepts but S3 upstreams (SeaweedFS, MinIO) may refuse
UPSTREAM_KEYS = ["..%5Cx", "a%5C..%5Cb", "k" * 1024]
UNSATISFIABLE_RANGES = ["bytes=99999-", "bytes=-0", "bytes=" + "9" * 40 + "-"]
IGNORED_RANGES = ["bytes=abc", "bytes=5-2", "chars=0-1", "bytes=--1", "bytes=0-0,2-3"]
BAD_CONTENT_LENGTHS = ["abc", "-1", "", "1, 2", "+5", "0x10"]

CASES: list[Case] = [
    # --- NUL bytes, REST -------------------------------------------------------------
    Case("rest-nul-key-upload", lambda e: e.rest("POST", f"/object/{e.bucket}/a%00b", content=b"x"),
         rest_nul()),
    Case("rest-nul-key-read", lambda e: e.rest("GET", f"/object/authenticated/{e.bucket}/a%00b"),
         rest_nul(("404", "NoSuchKey"))),
    Case("rest-nul-bucket-create", lambda e: e.rest("POST", "/bucket", body={"name": "a\x00b"}),
         rest_nul()),
    Case("rest-nul-bucket-id", lambda e: e.rest("POST", "/bucket", body={"name": "fine", "id": "a\x00b"}),
         rest_nul()),
    Case("rest-nul-bucket-get", lambda e: e.rest("GET", "/bucket/a%00b"), rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-update", lambda e: e.rest("PUT", "/bucket/a%00b", body={"public": True}),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-delete", lambda e: e.rest("DELETE", "/bucket/a%00b"), rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-empty", lambda e: e.rest("POST", "/bucket/a%00b/empty", body={}),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-upload", lambda e: e.rest("POST", "/object/a%00b/k", content=b"x"),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-public-read", lambda e: e.rest("GET", "/object/public/a%00b/k", token=None),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-bucket-list", lambda e: e.rest("POST", "/object/list/a%00b", body={"prefix": ""}),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-list-prefix", lambda e: e.rest("POST", f"/object/list/{e.bucket}", body={"prefix": "a\x00"}),
         rest_nul()),
    Case("rest-nul-list-search",
         lambda e: e.rest("POST", f"/object/list/{e.bucket}", body={"prefix": "", "search": "a\x00"}),
         rest_nul()),
    Case("rest-nul-listv2-prefix", lambda e: e.rest("POST", f"/object/list-v2/{e.bucket}", body={"prefix": "a\x00"}),
         rest_nul()),
    Case("rest-nul-listv2-cursor", lambda e: e.rest("POST", f"/object/list-v2/{e.bucket}", body={"cursor": "a\x00"}),
         rest_nul()),
    Case("rest-nul-allowed-mime-types",
         lambda e: e.rest("POST", "/bucket", body={"name": f"mime-{uuid.uuid4().hex[:8]}",
                                                   "allowed_mime_types": ["text/pl\x00ain"]}),
         rest_nul(("415", "InvalidMimeType"))),
    Case("rest-nul-allowed-mime-types-update",
         lambda e: e.rest("PUT", f"/bucket/{e.bucket}", body={"allowed_mime_types": ["text/pl\x00ain"]}),
         rest_nul(("415", "InvalidMimeType"))),
    Case("rest-nul-bulk-delete", lambda e: e.rest("DELETE", f"/object/{e.bucket}", body={"prefixes": ["a\x00"]}),
         rest_nul()),
    Case("rest-nul-metadata-value",
         lambda e: e.rest("POST", f"/object/{e.bucket}/meta-v", content=b"x", headers=nul_meta("k", "a\x00")),
         rest_nul()),
    Case("rest-nul-metadata-key",
         lambda e: e.rest("POST", f"/object/{e.bucket}/meta-k", content=b"x", headers=nul_meta("a\x00", "v")),
         rest_nul()),
    Case("rest-nul-form-metadata",
         lambda e: e.form(f"/object/{e.bucket}/form-m", {"metadata": json.dumps({"k": "a\x00"})}),
         rest_nul()),
    Case("rest-nul-form-content-type", lambda e: e.form(f"/object/{e.bucket}/form-c", {"contentType": "text/\x00"}),
         rest_nul(("415", "InvalidMimeType"))),
    Case("rest-nul-form-cache-control", lambda e: e.form(f"/object/{e.bucket}/form-cc", {"cacheControl": "1\x00"}),
         rest_nul()),
    Case("rest-nul-move-source",
         lambda e: e.rest("POST", "/object/move", body={"bucketId": e.bucket, "sourceKey": "a\x00",
                                                        "destinationKey": "b"}),
         rest_nul()),
    Case("rest-nul-move-destination-bucket",
         lambda e: e.rest("POST", "/object/move", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "b", "destinationBucket": "x\x00"}),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-copy-destination",
         lambda e: e.rest("POST", "/object/copy", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "b\x00"}),
         rest_nul()),
    Case("rest-nul-copy-destination-bucket",
         lambda e: e.rest("POST", "/object/copy", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "b", "destinationBucket": "x\x00"}),
         rest_nul(("404", "NoSuchBucket"))),
    Case("rest-nul-copy-metadata-header",
         lambda e: e.rest("POST", "/object/copy", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "copy-m", "copyMetadata": False},
                          headers={**nul_meta("k", "a\x00"), "x-upsert": "true"}),
         rest_nul()),
    Case("rest-nul-copy-mimetype",
         lambda e: e.rest("POST", "/object/copy", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "copy-t", "copyMetadata": False,
                                                        "metadata": {"mimetype": "text/\x00"}},
                          headers={"x-upsert": "true"}),
         rest_nul(("415", "InvalidMimeType"))),
    Case("rest-nul-sign", lambda e: e.rest("POST", f"/object/sign/{e.bucket}/a%00", body={"expiresIn": 60}),
         rest_nul()),
    Case("rest-nul-sign-many",
         lambda e: e.rest("POST", f"/object/sign/{e.bucket}", body={"expiresIn": 60, "paths": ["a\x00"]}),
         rest_nul()),
    Case("rest-nul-signed-upload-metadata",
         lambda e: e.rest("POST", f"/object/upload/sign/{e.bucket}/su", headers=nul_meta("k", "a\x00")),
         rest_nul()),
    Case("rest-nul-jwt-sub", lambda e: e.rest("GET", "/bucket", token=e.server.token("authenticated", sub="a\x00")),
         rest_error(("400", "InvalidRequest"), ("400", "InvalidJWT"), ("403", "AccessDenied"))),
    # a role that is not on the allow-list, NUL or not: the real 403 of a role check
    Case("rest-nul-jwt-role", lambda e: e.rest("GET", "/bucket", token=e.server.token("service\x00role")),
         rest_error(("400", "InvalidRequest"), ("400", "InvalidJWT"), ("403", "AccessDenied"), http=(400, 403))),
    # --- NUL bytes, S3 ---------------------------------------------------------------
    Case("s3-nul-key-put", lambda e: e.s3("PUT", f"/{e.bucket}/a%00b", body=b"x"),
         s3_nul()),
    Case("s3-nul-key-get", lambda e: e.s3("GET", f"/{e.bucket}/a%00b"),
         s3_nul(("NoSuchKey", 404))),
    Case("s3-nul-bucket-create", lambda e: e.s3("PUT", "/a%00b"), s3_nul()),
    Case("s3-nul-bucket-list", lambda e: e.s3("GET", "/a%00b"), s3_nul(("NoSuchBucket", 404))),
    Case("s3-nul-bucket-put-object", lambda e: e.s3("PUT", "/a%00b/k", body=b"x"), s3_nul(("NoSuchBucket", 404))),
    Case("s3-nul-list-prefix", lambda e: e.s3("GET", f"/{e.bucket}?list-type=2&prefix=a%00"),
         s3_nul()),
    Case("s3-nul-list-start-after", lambda e: e.s3("GET", f"/{e.bucket}?list-type=2&start-after=a%00"),
         s3_nul()),
    Case("s3-nul-list-continuation-token",
         lambda e: e.s3("GET", f"/{e.bucket}?" + urlencode(
             {"continuation-token": base64.urlsafe_b64encode(b"a\x00").decode(), "list-type": "2"}, quote_via=quote)),
         s3_nul()),
    Case("s3-nul-list-v1-marker", lambda e: e.s3("GET", f"/{e.bucket}?marker=a%00"), s3_nul()),
    Case("s3-nul-list-delimiter", lambda e: e.s3("GET", f"/{e.bucket}?delimiter=%00"), ok_or(s3_nul())),
    Case("s3-nul-list-uploads-prefix", lambda e: e.s3("GET", f"/{e.bucket}?prefix=a%00&uploads="),
         s3_nul()),
    Case("s3-nul-list-uploads-key-marker", lambda e: e.s3("GET", f"/{e.bucket}?key-marker=a%00&uploads="),
         s3_nul()),
    Case("s3-nul-upload-id", lambda e: e.s3("GET", f"/{e.bucket}/mp?uploadId=a%00"),
         s3_nul(("NoSuchUpload", 404))),
    Case("s3-nul-tagging-header-value",
         lambda e: e.s3("PUT", f"/{e.bucket}/tag-v", headers={"x-amz-tagging": "a=b%00"}, body=b"x"),
         s3_nul(("InvalidTag", 400))),
    Case("s3-nul-tagging-header-key",
         lambda e: e.s3("PUT", f"/{e.bucket}/tag-k", headers={"x-amz-tagging": "a%00=b"}, body=b"x"),
         s3_nul(("InvalidTag", 400))),
    Case("s3-nul-tagging-xml", lambda e: e.s3_doc("PUT", f"/{e.bucket}/{e.key}?tagging=", (
        b"<Tagging><TagSet><Tag><Key>k</Key><Value>a&#0;</Value></Tag></TagSet></Tagging>")),
         s3_error(("MalformedXML", 400), ("InvalidTag", 400))),
    Case("s3-nul-delete-objects-key",
         lambda e: e.s3_doc("POST", f"/{e.bucket}?delete=", b"<Delete><Object><Key>a&#0;b</Key></Object></Delete>"),
         s3_error(("MalformedXML", 400))),
    Case("s3-nul-copy-source-key",
         lambda e: e.s3("PUT", f"/{e.bucket}/copy-k", headers={"x-amz-copy-source": f"/{e.bucket}/a%00"}),
         s3_nul(("NoSuchKey", 404))),
    Case("s3-nul-copy-source-bucket",
         lambda e: e.s3("PUT", f"/{e.bucket}/copy-b", headers={"x-amz-copy-source": "/a%00b/k"}),
         s3_nul(("NoSuchBucket", 404))),
    Case("s3-nul-meta-header",  # RFC 2047 encoded word that decodes to a NUL
         lambda e: e.s3("PUT", f"/{e.bucket}/meta-n", headers={"x-amz-meta-a": "=?UTF-8?B?YQBi?="}, body=b"x"),
         s3_nul()),
    Case("s3-nul-meta-create-multipart",
         lambda e: e.s3("POST", f"/{e.bucket}/meta-mp?uploads=", headers={"x-amz-meta-a": "=?UTF-8?B?YQBi?="}),
         s3_nul()),
    Case("s3-nul-content-disposition",
         lambda e: e.s3("PUT", f"/{e.bucket}/cd-n", headers={"content-disposition": "=?UTF-8?B?YQBi?="}, body=b"x"),
         s3_nul()),
    Case("s3-nul-session-token-claim",
         lambda e: e.s3("GET", f"/{e.bucket}?list-type=2", token=e.server.token("authenticated", sub="a\x00")),
         s3_error(("InvalidToken", 400), ("InvalidRequest", 400), S3_ARGUMENT, ("AccessDenied", 403))),
    # --- integers out of range -------------------------------------------------------
    Case("rest-int-bucket-limit", lambda e: e.rest("GET", f"/bucket?limit={HUGE}"), ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-bucket-limit-huger", lambda e: e.rest("GET", f"/bucket?limit={HUGER}"),
         ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-bucket-offset", lambda e: e.rest("GET", f"/bucket?offset={HUGE}"), ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-list-offset",
         lambda e: e.rest("POST", f"/object/list/{e.bucket}", body=f'{{"prefix":"","offset":{HUGE}}}'),
         ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-list-limit",
         lambda e: e.rest("POST", f"/object/list/{e.bucket}", body=f'{{"prefix":"","limit":{HUGER}}}'),
         ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-listv2-limit", lambda e: e.rest("POST", f"/object/list-v2/{e.bucket}", body=f'{{"limit":{HUGER}}}'),
         ok_or(rest_error(*BAD_REQUEST))),
    Case("rest-int-sign-expires",
         lambda e: e.rest("POST", f"/object/sign/{e.bucket}/{e.key}", body=f'{{"expiresIn":{HUGER}}}'),
         rest_error(("400", "InvalidParameter"))),
    Case("rest-int-file-size-limit",
         lambda e: e.rest("POST", "/bucket", body=f'{{"name":"fsl-{uuid.uuid4().hex[:8]}","file_size_limit":{HUGER}}}'),
         rest_error(("413", "EntityTooLarge"), *BAD_REQUEST)),
    Case("s3-int-complete-part-int32", lambda e: e.s3("POST", f"/{e.bucket}/mp?uploadId={e.upload_id}",
                                                      body=complete_doc(INT32_OVER)),
         s3_error(S3_ARGUMENT, ("InvalidPart", 400), ("MalformedXML", 400))),
    Case("s3-int-complete-part-int64", lambda e: e.s3("POST", f"/{e.bucket}/mp?uploadId={e.upload_id}",
                                                      body=complete_doc(HUGE)),
         s3_error(S3_ARGUMENT, ("InvalidPart", 400), ("MalformedXML", 400))),
    Case("s3-int-complete-part-huger", lambda e: e.s3("POST", f"/{e.bucket}/mp?uploadId={e.upload_id}",
                                                      body=complete_doc(HUGER)),
         s3_error(S3_ARGUMENT, ("InvalidPart", 400), ("MalformedXML", 400))),
    Case("s3-int-list-parts-marker-int32",
         lambda e: e.s3("GET", f"/{e.bucket}/mp?part-number-marker={INT32_OVER}&uploadId={e.upload_id}"),
         ok_or(s3_error(S3_ARGUMENT))),
    Case("s3-int-list-parts-marker-huge",
         lambda e: e.s3("GET", f"/{e.bucket}/mp?part-number-marker={HUGER}&uploadId={e.upload_id}"),
         ok_or(s3_error(S3_ARGUMENT))),
    Case("s3-int-list-parts-max-parts",
         lambda e: e.s3("GET", f"/{e.bucket}/mp?max-parts={HUGER}&uploadId={e.upload_id}"),
         ok_or(s3_error(S3_ARGUMENT))),
    Case("s3-int-max-keys-huge", lambda e: e.s3("GET", f"/{e.bucket}?list-type=2&max-keys={HUGER}"),
         ok_or(s3_error(S3_ARGUMENT))),
    Case("s3-int-max-keys-negative", lambda e: e.s3("GET", f"/{e.bucket}?list-type=2&max-keys=-1"),
         s3_error(S3_ARGUMENT)),
    Case("s3-int-max-uploads-huge", lambda e: e.s3("GET", f"/{e.bucket}?max-uploads={HUGER}&uploads="),
         ok_or(s3_error(S3_ARGUMENT))),
    Case("s3-int-upload-part-number",
         lambda e: e.s3("PUT", f"/{e.bucket}/mp?partNumber={INT32_OVER}&uploadId={e.upload_id}", body=b"p"),
         s3_error(S3_ARGUMENT)),
    Case("s3-int-get-part-number", lambda e: e.s3("GET", f"/{e.bucket}/{e.key}?partNumber={HUGER}"),
         s3_error(S3_ARGUMENT)),
    # --- JSON nested 5,000 deep; oversized metadata ----------------------------------
    Case("rest-deep-json-bucket-body", lambda e: e.rest("POST", "/bucket", body=DEEP_OBJECT),
         rest_error(*JSON_TOO_DEEP)),
    Case("rest-deep-json-array-body", lambda e: e.rest("POST", f"/object/list-v2/{e.bucket}", body=DEEP_ARRAY),
         rest_error(*JSON_TOO_DEEP)),
    Case("rest-deep-json-list-field",
         lambda e: e.rest("POST", f"/object/list/{e.bucket}", body='{"prefix":"","sortBy":' + DEEP_OBJECT + "}"),
         rest_error(*JSON_TOO_DEEP)),
    Case("rest-deep-metadata-header",
         lambda e: e.rest("POST", f"/object/{e.bucket}/deep-h", content=b"x",
                          headers={"x-metadata": b64json(DEEP_OBJECT)}),
         rest_error(*JSON_TOO_DEEP, METADATA_TOO_LARGE)),
    Case("rest-deep-form-metadata", lambda e: e.form(f"/object/{e.bucket}/deep-f", {"metadata": DEEP_OBJECT}),
         rest_error(*JSON_TOO_DEEP, METADATA_TOO_LARGE)),
    Case("rest-deep-copy-metadata-header",
         lambda e: e.rest("POST", "/object/copy", body={"bucketId": e.bucket, "sourceKey": e.key,
                                                        "destinationKey": "deep-c", "copyMetadata": False},
                          headers={"x-metadata": b64json(DEEP_OBJECT), "x-upsert": "true"}),
         rest_error(*JSON_TOO_DEEP, METADATA_TOO_LARGE)),
    Case("rest-deep-signed-upload-metadata",
         lambda e: e.rest("POST", f"/object/upload/sign/{e.bucket}/deep-s",
                          headers={"x-metadata": b64json(DEEP_OBJECT)}),
         rest_error(*JSON_TOO_DEEP, METADATA_TOO_LARGE)),
    Case("rest-deep-jwt-claims",
         lambda e: e.rest("GET", "/bucket", token=jwt_with_payload(
             e.server, '{"role":"service_role","x":' + DEEP_OBJECT + "}")),
         rest_error(("403", "AccessDenied"), ("400", "InvalidJWT"))),
    Case("s3-deep-session-token",
         lambda e: e.s3("GET", f"/{e.bucket}?list-type=2", token=jwt_with_payload(
             e.server, '{"role":"authenticated","x":' + DEEP_OBJECT + "}")),
         s3_error(("InvalidToken", 400), ("AccessDenied", 403))),
    Case("s3-deep-xml",
         lambda e: e.s3_doc("POST", f"/{e.bucket}?delete=", b"<Delete>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Delete>"),
         s3_error(("MalformedXML", 400))),
    Case("rest-big-form-metadata",
         lambda e: e.form(f"/object/{e.bucket}/big-f", {"metadata": json.dumps({"k": "v" * (1024 * 1024 + 10)})}),
         rest_error(("413", "EntityTooLarge"))),
    # refused before it is read, with the framework's own status as the reference does
    Case("rest-big-json-body", lambda e: e.rest("POST", "/bucket", body='{"name":"' + "n" * 2 * 1024 * 1024 + '"}'),
         rest_error(("413", "EntityTooLarge"), http=(400, 413))),
    Case("s3-big-user-metadata", lambda e: e.s3("PUT", f"/{e.bucket}/big-m", headers={"x-amz-meta-a": "v" * 2100},
                                            body=b"x"),
         s3_error(("MetadataTooLarge", 400))),
    Case("s3-big-user-metadata-split",
         lambda e: e.s3("PUT", f"/{e.bucket}/big-ms", headers={f"x-amz-meta-a{i}": "v" * 200 for i in range(11)},
                        body=b"x"),
         s3_error(("MetadataTooLarge", 400))),
    # --- malformed SigV4 headers ---------------------------------------------------
    Case("s3-auth-garbage", lambda e: corrupt_auth(e, lambda h: h.update(Authorization="AWS4-HMAC-SHA256 garbage")),
         s3_error(("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-no-signature",
         lambda e: corrupt_auth(e, lambda h: h.update(Authorization=h["Authorization"].split(", Signature=")[0])),
         s3_error(("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-short-credential",
         lambda e: corrupt_auth(e, lambda h: h.update(
             Authorization=h["Authorization"].replace(f"/{e.server.region}/s3/aws4_request", ""))),
         s3_error(("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-unknown-algorithm",
         lambda e: corrupt_auth(e, lambda h: h.update(
             Authorization=h["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"))),
         s3_error(("InvalidRequest", 400), ("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-empty", lambda e: corrupt_auth(e, lambda h: h.update(Authorization="")),
         s3_error(("InvalidRequest", 400), ("AccessDenied", 403), ("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-bad-date", lambda e: corrupt_auth(e, lambda h: h.update({"X-Amz-Date": "99999999T999999Z"})),
         s3_error(("AccessDenied", 403))),
    Case("s3-auth-signature-not-hex",
         lambda e: corrupt_auth(e, lambda h: h.update(Authorization=h["Authorization"].rsplit("=", 1)[0] + "=zz%00")),
         s3_error(("SignatureDoesNotMatch", 403), ("AuthorizationHeaderMalformed", 400))),
    Case("s3-auth-host-not-signed",
         lambda e: corrupt_auth(e, lambda h: h.update(
             Authorization=re.sub(r"SignedHeaders=[^,]*", "SignedHeaders=x-amz-date", h["Authorization"]))),
         s3_error(("AuthorizationHeaderMalformed", 400), ("SignatureDoesNotMatch", 403))),
    Case("s3-auth-payload-hash-not-hex",
         lambda e: corrupt_auth(e, lambda h: h.update({"X-Amz-Content-SHA256": "not-a-hash"})),
         s3_error(S3_ARGUMENT, ("SignatureDoesNotMatch", 403))),
    # --- malformed presigned queries ---------------------------------------------------
    Case("s3-presigned-expires-text",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Expires=300", "X-Amz-Expires=abc")),
         s3_error(("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-expires-negative",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Expires=300", "X-Amz-Expires=-5")),
         s3_error(("AccessDenied", 403))),
    Case("s3-presigned-expires-huge",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Expires=300", "X-Amz-Expires=" + "9" * 30)),
         s3_error(("AccessDenied", 403))),
    Case("s3-presigned-bad-date", lambda e: presigned(e, lambda t: re.sub("X-Amz-Date=[^&]*", "X-Amz-Date=x", t)),
         s3_error(("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-short-credential",
         lambda e: presigned(e, lambda t: re.sub("X-Amz-Credential=[^&]*", "X-Amz-Credential=k", t)),
         s3_error(("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-algorithm",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=HMAC")),
         s3_error(("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-no-signature", lambda e: presigned(e, lambda t: re.sub("&X-Amz-Signature=[^&]*", "", t)),
         s3_error(("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-signature-nul",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Signature=", "X-Amz-Signature=%00")),
         s3_nul(("SignatureDoesNotMatch", 403), ("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-credential-nul",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Credential=", "X-Amz-Credential=%00")),
         s3_nul(("InvalidAccessKeyId", 403), ("AuthorizationQueryParametersError", 400))),
    Case("s3-presigned-wrong-signature",
         lambda e: presigned(e, lambda t: t.replace("X-Amz-Signature=", "X-Amz-Signature=0")),
         s3_error(("SignatureDoesNotMatch", 403))),
    # --- XML bombs and external entities ---------------------------------------------
    Case("s3-xml-bomb-delete-objects", lambda e: e.s3_doc("POST", f"/{e.bucket}?delete=", xml_bomb("Delete", DELETE_DOC)),
         s3_error(("MalformedXML", 400))),
    Case("s3-xml-bomb-complete", lambda e: e.s3("POST", f"/{e.bucket}/mp?uploadId={e.upload_id}",
                                            body=xml_bomb("CompleteMultipartUpload", COMPLETE_DOC)),
         s3_error(("MalformedXML", 400))),
    Case("s3-xml-bomb-tagging", lambda e: e.s3_doc("PUT", f"/{e.bucket}/{e.key}?tagging=", xml_bomb("Tagging", TAGGING_DOC)),
         s3_error(("MalformedXML", 400))),
    Case("s3-xxe-delete-objects", lambda e: e.s3_doc("POST", f"/{e.bucket}?delete=", xxe("Delete", DELETE_DOC)),
         s3_error(("MalformedXML", 400))),
    Case("s3-xxe-complete", lambda e: e.s3("POST", f"/{e.bucket}/mp?uploadId={e.upload_id}",
                                       body=xxe("CompleteMultipartUpload", COMPLETE_DOC)),
         s3_error(("MalformedXML", 400))),
    Case("s3-xxe-tagging", lambda e: e.s3_doc("PUT", f"/{e.bucket}/{e.key}?tagging=", xxe("Tagging", TAGGING_DOC)),
         s3_error(("MalformedXML", 400))),
    # --- traversal keys --------------------------------------------------------------
    *[Case(f"rest-traversal-upload-{k}", lambda e, k=k: e.rest("POST", f"/object/{e.bucket}/{k}", content=b"x"),
           rest_error(BAD_KEY)) for k in TRAVERSAL_KEYS],
    *[Case(f"rest-traversal-read-{k}", lambda e, k=k: e.rest("GET", f"/object/authenticated/{e.bucket}/{k}"),
           rest_error(BAD_KEY, ("404", "NoSuchKey"))) for k in TRAVERSAL_KEYS],
    *[Case(f"s3-traversal-put-{k}", lambda e, k=k: e.s3("PUT", f"/{e.bucket}/{k}", body=b"x"),
           s3_error(S3_ARGUMENT, ("InvalidKey", 400))) for k in TRAVERSAL_KEYS],
    *[Case(f"s3-traversal-get-{k}", lambda e, k=k: e.s3("GET", f"/{e.bucket}/{k}"),
           s3_error(S3_ARGUMENT, ("InvalidKey", 400), ("NoSuchKey", 404))) for k in TRAVERSAL_KEYS],
    Case("s3-traversal-copy-source",
         lambda e: e.s3("PUT", f"/{e.bucket}/copy-t", headers={"x-amz-copy-source": f"/{e.bucket}/a/../../x"}),
         s3_error(S3_ARGUMENT, ("InvalidKey", 400), ("NoSuchKey", 404))),
    # --- bad ranges ------------------------------------------------------------------
    *[Case(f"rest-range-unsatisfiable-{r}",
           lambda e, r=r: e.rest("GET", f"/object/authenticated/{e.bucket}/{e.key}", headers={"Range": r}),
           rest_error(("416", "InvalidRange"), http=416)) for r in UNSATISFIABLE_RANGES],
    *[Case(f"s3-range-unsatisfiable-{r}", lambda e, r=r: e.s3("GET", f"/{e.bucket}/{e.key}", headers={"Range": r}),
           s3_error(("InvalidRange", 416))) for r in UNSATISFIABLE_RANGES],
    *[Case(f"rest-range-ignored-{r}",  # not a valid byte range: the whole object, as AWS and Supabase do
           lambda e, r=r: e.rest("GET", f"/object/authenticated/{e.bucket}/{e.key}", headers={"Range": r}),
           success) for r in IGNORED_RANGES],
    *[Case(f"s3-range-ignored-{r}", lambda e, r=r: e.s3("GET", f"/{e.bucket}/{e.key}", headers={"Range": r}),
           success) for r in IGNORED_RANGES],
    # --- forged and expired JWTs and signed-URL tokens ---------------------------------
    Case("rest-jwt-garbage", lambda e: e.rest("GET", "/bucket", token="garbage"),
         rest_error(("403", "AccessDenied"))),
    Case("rest-jwt-forged", lambda e: e.rest("GET", "/bucket", token=pyjwt.encode(
        {"role": "service_role"}, "another-secret-that-is-long-enough-xx", algorithm="HS256")),
         rest_error(("403", "AccessDenied"))),
    Case("rest-jwt-alg-none", lambda e: e.rest("GET", "/bucket", token=pyjwt.encode(
        {"role": "service_role"}, None, algorithm="none")), rest_error(("403", "AccessDenied"))),
    Case("rest-jwt-expired", lambda e: e.rest("GET", "/bucket", token=e.server.token(exp=-10)),
         rest_error(("403", "AccessDenied"))),
    Case("rest-jwt-exp-not-a-number", lambda e: e.rest("GET", "/bucket", token=pyjwt.encode(
        {"role": "service_role", "exp": "soon"}, e.server.jwt_secret, algorithm="HS256")),
         rest_error(("403", "AccessDenied"))),
    Case("s3-session-token-forged",
         lambda e: e.s3("GET", f"/{e.bucket}?list-type=2", token=e.server.token("authenticated") + "x"),
         s3_error(("InvalidToken", 400))),
    Case("s3-session-token-expired",
         lambda e: e.s3("GET", f"/{e.bucket}?list-type=2", token=e.server.token("authenticated", exp=-10)),
         s3_error(("ExpiredToken", 400))),
    Case("rest-signed-token-forged",
         lambda e: e.rest("GET", f"/object/sign/{e.bucket}/{e.key}?token={e.server.token('authenticated')}x",
                          token=None),
         rest_error(("400", "InvalidJWT"))),
    Case("rest-signed-token-garbage",
         lambda e: e.rest("GET", f"/object/sign/{e.bucket}/{e.key}?token=garbage%00", token=None),
         rest_nul(("400", "InvalidJWT"))),
    Case("rest-signed-token-expired", lambda e: e.rest("GET", f"/object/sign/{e.bucket}/{e.key}?token=" + pyjwt.encode(
        {"url": f"{e.bucket}/{e.key}", "scope": "download", "exp": 1000}, e.server.jwt_secret, algorithm="HS256"),
        token=None), rest_error(("400", "InvalidJWT"))),
    Case("rest-signed-token-other-object",
         lambda e: e.rest("GET", f"/object/sign/{e.bucket}/{e.key}?token=" + pyjwt.encode(
             {"url": f"{e.bucket}/other", "scope": "download", "exp": 2**33}, e.server.jwt_secret,
             algorithm="HS256"), token=None),
         rest_error(("400", "InvalidSignature"))),
    Case("rest-signed-upload-token-expired",
         lambda e: e.rest("PUT", f"/object/upload/sign/{e.bucket}/up?token=" + pyjwt.encode(
             {"url": f"{e.bucket}/up", "scope": "upload", "exp": 1000}, e.server.jwt_secret, algorithm="HS256"),
             content=b"x", token=None),
         rest_error(("400", "InvalidJWT"))),
    Case("rest-signed-upload-token-download-scope",
         lambda e: e.rest("PUT", f"/object/upload/sign/{e.bucket}/up?token=" + pyjwt.encode(
             {"url": f"{e.bucket}/up", "scope": "download", "exp": 2**33}, e.server.jwt_secret, algorithm="HS256"),
             content=b"x", token=None),
         rest_error(("400", "InvalidSignature"))),
    # --- oversized headers ------------------------------------------------------------
    Case("rest-header-60k", lambda e: e.rest("GET", "/bucket", headers={"x-filler": "v" * 60_000}),
         ok_or(refused_or_closed)),
    Case("s3-header-60k", lambda e: e.s3("GET", f"/{e.bucket}?list-type=2", headers={"x-filler": "v" * 60_000}),
         ok_or(refused_or_closed)),
    Case("rest-header-70k", headers_past_limit(main_port, "/bucket"), refused_or_closed),
    Case("s3-header-70k", headers_past_limit(s3_port, "/{bucket}?list-type=2"), refused_or_closed),
    # --- bad Content-Length values (framing) ---------------------------------------------
    *[Case(f"rest-content-length-{v!r}", framing(main_port, "/object/{bucket}/cl", v), framing_rejected)
      for v in BAD_CONTENT_LENGTHS],
    *[Case(f"s3-content-length-{v!r}", framing(s3_port, "/{bucket}/cl", v), framing_rejected)
      for v in BAD_CONTENT_LENGTHS],
    *[Case(f"s3-prefix-content-length-{v!r}", framing(main_port, "/s3/{bucket}/cl", v), framing_rejected)
      for v in BAD_CONTENT_LENGTHS],
    # a length that is a number, just absurdly large: each route's size limit refuses it
    Case("rest-content-length-huge", framing(main_port, "/object/{bucket}/cl", "9" * 30),
         rest_error(("413", "EntityTooLarge"))),
    Case("s3-content-length-huge", framing(s3_port, "/{bucket}/cl", "9" * 30), s3_error(("EntityTooLarge", 413))),
    Case("s3-prefix-content-length-huge", framing(main_port, "/s3/{bucket}/cl", "9" * 30),
         s3_error(("EntityTooLarge", 413))),
]


@pytest.fixture(scope="module")
def env(server: Server) -> Iterator[Env]:
    bucket = f"bad-{uuid.uuid4().hex[:10]}"
    admin = s3_client(server)
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as http:
        assert http.post("bucket", json={"name": bucket}).status_code == 200
        assert http.post(f"object/{bucket}/present.txt", content=b"hello world").status_code == 200
    upload_id = admin.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    admin.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part one")
    yield Env(server=server, bucket=bucket, upload_id=upload_id, log_start=log_size(server))
    for upload in admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        admin.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        http.post(f"bucket/{bucket}/empty", json={})
        http.delete(f"bucket/{bucket}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(env: Env, case: Case) -> None:
    case.check(case.send(env))


# --- names the API accepts but an S3 upstream may refuse ------------------------------


def _round_trip_rest(env: Env, bucket: str, key_target: str) -> None:
    """Upload, then read back: a 4xx in the envelope, or really stored."""
    up = env.rest("POST", f"/object/{bucket}/{key_target}", content=b"odd name", headers={"x-upsert": "true"})
    if up.status != 200:
        assert_rest_error(up, [BAD_KEY, *BAD_BUCKET, ("400", "InvalidRequest")])
        return
    got = env.rest("GET", f"/object/authenticated/{bucket}/{key_target}")
    assert (got.status, got.body) == (200, b"odd name"), f"stored but not readable: {got}"
    assert env.rest("DELETE", f"/object/{bucket}/{key_target}").status == 200


def _round_trip_s3(env: Env, bucket: str, key_target: str) -> None:
    up = env.s3("PUT", f"/{bucket}/{key_target}", body=b"odd name")
    if up.status != 200:
        assert_s3_error(up, [S3_ARGUMENT, ("InvalidKey", 400), ("KeyTooLongError", 400), *S3_BAD_BUCKET])
        return
    got = env.s3("GET", f"/{bucket}/{key_target}")
    assert (got.status, got.body) == (200, b"odd name"), f"stored but not readable: {got}"
    assert env.s3("DELETE", f"/{bucket}/{key_target}").status == 204


@pytest.mark.parametrize("key", UPSTREAM_KEYS, ids=["backslash-dotdot", "backslash-segments", "1024-bytes"])
def test_names_an_upstream_refuses_rest(env: Env, key: str) -> None:
    _round_trip_rest(env, env.bucket, key)


@pytest.mark.parametrize("key", UPSTREAM_KEYS, ids=["backslash-dotdot", "backslash-segments", "1024-bytes"])
def test_names_an_upstream_refuses_s3(env: Env, key: str) -> None:
    _round_trip_s3(env, env.bucket, key)


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_bucket_names(env: Env, name: str) -> None:
    """Buckets `.` and `..`: refused with the protocol's 4xx, or they work like any other
    (created through either protocol, an object stored and read back through both)."""
    try:
        created = env.rest("POST", "/bucket", body={"name": name})
        if created.status != 200:
            assert_rest_error(created, [("400", "InvalidBucketName")])
        else:
            _round_trip_rest(env, quote(name, safe=""), "k")
            _round_trip_s3(env, name, "k")
        made = env.s3("PUT", f"/{name}")
        if made.status not in (200, 409):
            assert_s3_error(made, [("InvalidBucketName", 400)])
        elif made.status == 409:
            assert_s3_error(made, [("BucketAlreadyOwnedByYou", 409), ("BucketAlreadyExists", 409)])
        if created.status == 200 or made.status == 200:
            _round_trip_s3(env, name, "k2")
    finally:
        env.rest("POST", f"/bucket/{quote(name, safe='')}/empty", body={})
        env.rest("DELETE", f"/bucket/{quote(name, safe='')}")


# --- last: the log -------------------------------------------------------------------


def test_no_fault_in_the_server_log(env: Env) -> None:
    """Everything above was the client's fault: the server logs no traceback and no 5xx."""
    found = faults(log_since(env.server, env.log_start))
    assert not found, f"{len(found)} fault lines in the server log, e.g.:\n" + "\n".join(found[:20])
