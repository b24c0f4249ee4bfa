"""Credentials out of log lines.

What is secret: anything that lets a reader of the log replay or forge a request.
That is a request's signature (SigV4 `X-Amz-Signature`, the `Signature=` of a SigV4
Authorization header, SigV2's `Signature`), a session token (`X-Amz-Security-Token`),
a signed URL's `token`, and the value of an `Authorization` header (bearer JWTs).
What is not: the access key id (`X-Amz-Credential`, SigV2's `AWSAccessKeyId`), which
names the key the way a user name does (AWS writes it to CloudTrail) and is kept so
a log still says who called, and the expiry and date parameters.

Two layers. The access log redacts the query string it writes field by field
(`redact_uri`). Every other line, ours and tornado's (its warnings quote request
lines and header values), goes through `redact_text` in the log formatter
(logs.py), which finds the same names in free text and anything shaped like a JWT.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

REDACTED = "REDACTED"

# query parameters whose value is a credential (compared in lower case)
SECRET_PARAMS = frozenset({"x-amz-signature", "x-amz-security-token", "signature", "token"})

_VALUE = r"[^&\s\"'<>\\,;]+"
_FREE_TEXT = re.compile(
    # name=value in a query string, a SigV4 Authorization header or an XML/JSON dump;
    # `%3D` is the `=` of a URL quoted inside another
    r"(?i)(?P<name>\b(?:x-amz-signature|x-amz-security-token|signature|token))(?P<eq>=|%3D)" + _VALUE
    # header-like: `Authorization: ...`, `'x-amz-security-token': '...'`, `"authorization":"..."`
    + r"|(?P<header>\b(?:authorization|x-amz-security-token|x-amz-signature)[\"']?\s*[:=]\s*[\"']?)"
      r"[^\"'\r\n]+"
    # a bearer credential, or anything shaped like a JWT (header.payload.signature)
    + r"|(?P<bearer>\bBearer\s+)[\w.~+/=-]+"
    + r"|\beyJ[\w-]*\.[\w-]+\.[\w-]*"
)


def _replace(match: re.Match[str]) -> str:
    if match.group("name"):
        return f"{match.group('name')}{match.group('eq')}{REDACTED}"
    if match.group("header"):
        return match.group("header") + REDACTED
    if match.group("bearer"):
        return match.group("bearer") + REDACTED
    return REDACTED


def redact_text(text: str) -> str:
    """`text` with every credential it holds replaced by REDACTED."""
    return _FREE_TEXT.sub(_replace, text)


def redact_query(query: str) -> str:
    """A query string with the values of SECRET_PARAMS replaced, the rest as sent."""
    if not query:
        return query
    out = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        if eq and unquote(name).lower() in SECRET_PARAMS:
            pair = f"{name}={REDACTED}"
        out.append(pair)
    return redact_text("&".join(out))


def redact_uri(uri: str) -> str:
    """A request target with its query redacted (see `redact_query`)."""
    path, mark, query = uri.partition("?")
    return path + mark + redact_query(query) if mark else uri
