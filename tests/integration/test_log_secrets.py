"""No credential reaches the server's log (issue 15 §2, "Secrets in logs").

A dedicated server logs at INFO, so access lines are written. Requests that carry
credentials (presigned S3 URLs, signed-URL tokens, Authorization headers, session
tokens) fail with a 4xx, and one presigned download succeeds; then every credential
value, and the distinctive parts of each, is looked for in the log. A log line may
say that a request was presigned or that a token failed, but not with the value
that would let a reader of the log replay it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.s3_support import s3_client
from tests.integration.wire import (
    BACKENDS,
    Answer,
    assert_rest_error,
    assert_s3_error,
    backend_upstream,
    exchange,
    from_httpx,
    log_since,
    log_size,
    own_server,
    raw_exchange,
    sign_s3,
)
from tests.rig import Postgres, Server


@pytest.fixture(scope="module", params=BACKENDS)
def verbose(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    with own_server(backend, postgres, backend_upstream(request, backend), env={"LOG_LEVEL": "INFO"}) as srv:
        yield srv


def pieces(secret: str) -> list[str]:
    """The value, and parts long enough that finding one means the value leaked: a JWT's
    payload and signature, each half of a hex signature."""
    parts = [secret]
    if secret.count(".") == 2:
        parts += [p for p in secret.split(".")[1:] if len(p) >= 16]
    elif re.fullmatch(r"[0-9a-f]{64}", secret):
        parts += [secret[:32], secret[32:]]
    return parts


def query_value(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def test_credentials_never_reach_the_log(verbose: Server) -> None:
    srv = verbose
    bucket = f"sec-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=30) as http:
        assert http.post("bucket", json={"name": bucket}).status_code == 200
        assert http.post(f"object/{bucket}/k", content=b"secret-test").status_code == 200
    start = 0
    secrets: dict[str, str] = {}

    def keep(name: str, value: str) -> str:
        secrets[name] = value
        return value

    sent: list[tuple[str, Answer]] = []
    # presigned S3 URLs with a bad signature, on the S3 port and under /s3
    for label, endpoint in (("S3 port", srv.s3_url), ("/s3", srv.url + "s3")):
        url = s3_client(srv, endpoint=endpoint).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
        bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=f")
        keep(f"presigned signature ({label})", query_value(bad, "X-Amz-Signature"))
        sent.append((f"presigned GET, bad signature ({label})", from_httpx(httpx.get(bad))))
    # a presigned PUT whose signature is wrong
    put = s3_client(srv).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    put = put.replace("X-Amz-Signature=", "X-Amz-Signature=e")
    keep("presigned PUT signature", query_value(put, "X-Amz-Signature"))
    sent.append(("presigned PUT, bad signature", from_httpx(httpx.put(put, content=b"x"))))
    # a presigned URL carrying an expired session token (X-Amz-Security-Token in the query)
    expired = srv.token("authenticated", sub=str(uuid.uuid4()), exp=-10)
    with_token = s3_client(srv, token=keep("session token in a query", expired)).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    keep("presigned signature with session token", query_value(with_token, "X-Amz-Signature"))
    sent.append(("presigned GET, expired session token", from_httpx(httpx.get(with_token))))
    # a header-signed request with a wrong signature, and one with a forged session token
    target = f"/{bucket}?list-type=2"
    headers = sign_s3(srv, "GET", target)
    headers["Authorization"] = headers["Authorization"][:-8] + "00000000"
    keep("SigV4 Authorization header", headers["Authorization"])
    keep("SigV4 header signature", headers["Authorization"].rsplit("Signature=", 1)[1])
    sent.append(("header-signed, wrong signature", exchange(srv.s3_url, "GET", target, headers)))
    forged = keep("session token in a header", srv.token("authenticated", sub=str(uuid.uuid4())) + "x")
    headers = sign_s3(srv, "GET", target, token=forged)
    sent.append(("header-signed, forged x-amz-security-token", exchange(srv.s3_url, "GET", target, headers)))
    # REST: signed-URL tokens that fail, and Authorization headers that fail
    token = keep("signed-URL token", srv.token("authenticated") + "x")
    sent.append(("signed URL, forged token", from_httpx(httpx.get(srv.url + f"object/sign/{bucket}/k",
                                                                   params={"token": token}))))
    up_token = keep("signed upload token", srv.token("authenticated", sub=str(uuid.uuid4())) + "y")
    sent.append(("signed upload, forged token", from_httpx(httpx.put(
        srv.url + f"object/upload/sign/{bucket}/u", params={"token": up_token}, content=b"x"))))
    bearer = keep("REST bearer token", srv.token("service_role", exp=-10))
    sent.append(("REST, expired bearer", from_httpx(httpx.get(srv.url + "bucket/no-such-bucket",
                                                              headers={"Authorization": f"Bearer {bearer}"}))))
    service = keep("REST service bearer", srv.service_token)
    sent.append(("REST, valid bearer, missing bucket", from_httpx(httpx.get(
        srv.url + "bucket/no-such-bucket", headers={"Authorization": f"Bearer {service}"}))))
    # and one that works: a presigned download
    good = s3_client(srv).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    keep("working presigned signature", query_value(good, "X-Amz-Signature"))
    ok = httpx.get(good)
    assert ok.content == b"secret-test"

    answers = dict(sent)
    for name in ("presigned GET, bad signature (S3 port)", "presigned GET, bad signature (/s3)",
                 "presigned PUT, bad signature", "header-signed, wrong signature"):
        assert_s3_error(answers[name], [("SignatureDoesNotMatch", 403)])
    assert_s3_error(answers["presigned GET, expired session token"], [("ExpiredToken", 400)])
    assert_s3_error(answers["header-signed, forged x-amz-security-token"], [("InvalidToken", 400)])
    assert_rest_error(answers["signed URL, forged token"], [("400", "InvalidJWT")])
    assert_rest_error(answers["signed upload, forged token"], [("400", "InvalidJWT")])
    assert_rest_error(answers["REST, expired bearer"], [("403", "AccessDenied")])
    assert_rest_error(answers["REST, valid bearer, missing bucket"], [("404", "NoSuchBucket")])

    log = log_since(srv, start)
    assert f"/{bucket}" in log, "the server logged none of these requests: the test would prove nothing"
    leaked = sorted({name for name, value in secrets.items() for part in pieces(value) if part in log})
    assert not leaked, "credentials in the server log: " + ", ".join(leaked) + "\n--- log:\n" + log[-3000:]


def test_credentials_in_malformed_requests_never_reach_the_log(verbose: Server) -> None:
    """Paths past the access log: tornado's own lines about a request it cannot parse
    (it quotes a bad header's value), SigV2 query signatures, and a token in a request
    line tornado rejects."""
    srv = verbose
    start = log_size(srv)
    jwt = srv.token("service_role", sub=str(uuid.uuid4()))
    # a header value with a control character: tornado refuses the request and logs the value
    raw_exchange(srv.port, b"GET /bucket HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + jwt.encode()
                 + b"\x01\r\n\r\n")
    session = srv.token("authenticated", sub=str(uuid.uuid4()))
    raw_exchange(srv.s3_port, b"GET /b/k HTTP/1.1\r\nHost: x\r\nX-Amz-Security-Token: " + session.encode()
                 + b"\x7f\r\n\r\n")
    # SigV2 query authentication (AWSAccessKeyId is a key's name and may stay)
    v2 = "0123456789abcdefABCDEF0123456789abcdEFGH%2B%3D"
    exchange(srv.s3_url, "GET", f"/b/k?AWSAccessKeyId=key&Expires=2000000000&Signature={v2}")
    exchange(srv.url, "GET", f"/s3/b/k?AWSAccessKeyId=key&Expires=2000000000&Signature={v2}")
    # a signed-URL token whose request line tornado rejects (a space in the target)
    signed = srv.token("service_role", sub=str(uuid.uuid4()))
    raw_exchange(srv.port, f"GET /object/sign/b/k?token={signed} x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.5)
    log = log_since(srv, start)
    found = [name for name, value in (("bearer in a bad header", jwt), ("session token in a bad header", session),
                                      ("SigV2 signature", v2), ("token in a bad request line", signed))
             for part in pieces(value) if part in log]
    assert not found, "credentials in the server log: " + ", ".join(found) + "\n--- log:\n" + log[-3000:]
