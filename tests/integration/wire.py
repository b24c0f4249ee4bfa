"""Raw HTTP for the bad-input tests: requests a client library would refuse to send
(or would quietly repair), SigV4 signatures to corrupt afterwards, and the checks that
an answer is an error in its protocol's own format.

`http.client` sends a request target exactly as given (no dot-segment removal, no
re-quoting), which httpx and botocore do not; `socket` sends bytes that are not even
HTTP. Signatures come from botocore's own signer, so the server sees what an SDK
would send up to the byte the test corrupts.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.rig import Postgres, SeaweedFS, Server


@dataclass
class Answer:
    """One HTTP response as the bytes came: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.body[:400]!r}"


def from_httpx(r: httpx.Response) -> Answer:
    return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def _answer(resp: http.client.HTTPResponse) -> Answer:
    body = resp.read()
    return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)


def exchange(base_url: str, method: str, target: str, headers: dict[str, str] | None = None,
             body: bytes | None = None, timeout: float = 30.0) -> Answer:
    """One request with `target` sent byte for byte (`/b/../x`, `%00`, backslashes)."""
    u = urlsplit(base_url)
    assert u.hostname is not None and u.port is not None
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        names = {k.lower() for k in (headers or {})}
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and "content-length" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return _answer(conn.getresponse())
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, timeout: float = 15.0) -> Answer | None:
    """Send `data` as it is and parse what comes back; None when the server closed the
    connection without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock)
        try:
            resp.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        return _answer(resp)


# --- SigV4 ---------------------------------------------------------------------------


def sign_s3(server: Server, method: str, target: str, *, headers: dict[str, str] | None = None,
            body: bytes = b"", token: str | None = None, base: str | None = None) -> dict[str, str]:
    """The headers botocore's S3 signer adds for this request (`target` is the raw path,
    with its query already encoded; botocore signs the path exactly as given)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=(base or server.s3_url) + target, data=body, headers=dict(headers or {}))
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(server.s3_key_id, server.s3_secret, token), "s3", server.region).add_auth(req)
    return {k: v for k, v in req.headers.items()}


def s3_call(server: Server, method: str, target: str, *, headers: dict[str, str] | None = None,
            body: bytes = b"", token: str | None = None, base: str | None = None) -> Answer:
    """A correctly signed S3 request whose path, query and headers may hold bad input."""
    base = base or server.s3_url
    signed = sign_s3(server, method, target, headers=headers, body=body, token=token, base=base)
    prefix = urlsplit(base).path
    return exchange(base, method, prefix + target, signed, body if body or method in ("PUT", "POST") else None)


# --- protocol formats -------------------------------------------------------------------

ENVELOPE_KEYS = {"statusCode", "error", "message", "code"}


def assert_rest_error(answer: Answer, allowed: Iterable[tuple[str, str]], http_status: int | Iterable[int] = 400
                      ) -> dict[str, str]:
    """A Supabase error: the JSON envelope {statusCode, error, message, code} (all strings),
    with an allowed (statusCode, code) pair and the expected HTTP status."""
    statuses = {http_status} if isinstance(http_status, int) else set(http_status)
    pairs = set(allowed)
    assert answer.status in statuses, f"HTTP status {answer.status}, expected {sorted(statuses)}: {answer}"
    assert (answer.header("content-type") or "").startswith("application/json"), f"not JSON: {answer}"
    try:
        body = json.loads(answer.body)
    except ValueError as exc:
        raise AssertionError(f"body is not JSON: {answer}") from exc
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, f"not the error envelope: {answer}"
    assert all(isinstance(v, str) for v in body.values()), f"envelope values must be strings: {answer}"
    assert (body["statusCode"], body["code"]) in pairs, \
        f"(statusCode, code) = {(body['statusCode'], body['code'])}, expected one of {sorted(pairs)}: {answer}"
    return body


def parse_xml(answer: Answer) -> ET.Element:
    try:
        return ET.fromstring(answer.body)
    except ET.ParseError as exc:
        raise AssertionError(f"body is not well-formed XML ({exc}): {answer}") from exc


def assert_s3_error(answer: Answer, allowed: Iterable[tuple[str, int]]) -> ET.Element:
    """An S3 error: an allowed (Code, status) pair as AWS sends it, Content-Type
    application/xml, a well-formed <Error><Code/><Message/>…<RequestId/></Error> whose
    RequestId is the x-amz-request-id header's."""
    pairs = set(allowed)
    root = parse_xml(answer) if answer.body else None
    code = root.findtext("Code") if root is not None else None
    assert (code, answer.status) in pairs, f"(Code, status) = {(code, answer.status)}, expected one of {sorted(pairs)}: {answer}"
    assert root is not None and root.tag == "Error", f"not an <Error> document: {answer}"
    assert (answer.header("content-type") or "").startswith("application/xml"), f"not XML: {answer}"
    assert root.find("Message") is not None, f"no <Message>: {answer}"
    assert root.findtext("RequestId") == answer.header("x-amz-request-id"), f"RequestId differs: {answer}"
    return root


# --- the server's log -----------------------------------------------------------------

# what a server must never write for a client's mistake: a 5xx access line, a traceback
FAULT = re.compile(r"(?:tornado|s3proxy)\.access 5\d\d |Traceback \(most recent call last\)|Uncaught exception")


def log_path(server: Server) -> Path:
    return Path(server.workdir) / "server.log"


def log_size(server: Server) -> int:
    path = log_path(server)
    return path.stat().st_size if path.exists() else 0


def log_since(server: Server, offset: int) -> str:
    with open(log_path(server), "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def faults(text: str) -> list[str]:
    """The log lines that show a server fault (and a line of context for tracebacks)."""
    return [line for line in text.splitlines() if FAULT.search(line)]


# --- dedicated servers -----------------------------------------------------------------

BACKENDS = ["file", "s3"]


@contextmanager
def own_server(backend: str, postgres: Postgres, upstream: SeaweedFS | None, *, workers: int = 1,
               env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server of its own, for tests that signal it, watch its memory or read its log
    at another level."""
    srv = Server(backend=backend, database_url=postgres.new_database(f"s3proxy_own_{backend}"),
                 upstream=upstream if backend == "s3" else None, workers=workers, extra_env=dict(env or {}))
    with srv.running():
        yield srv


def backend_upstream(request: Any, backend: str) -> SeaweedFS | None:
    """The session's SeaweedFS, started only when the s3 backend needs it."""
    return request.getfixturevalue("upstream") if backend == "s3" else None  # type: ignore[no-any-return]
