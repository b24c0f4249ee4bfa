"""AWS Signature Version 2 for S3: `Authorization: AWS <id>:<sig>` and presigned URLs.

Older tools still sign this way (boto2, s3cmd, aws-cli v1 style presigned URLs,
botocore's `HmacV1Auth`/`HmacV1QueryAuth`). Like sigv4.py this module is plain
computation over a `SignedRequest`; the caller looks the secret up in between
`parse_auth` and `check_signature`.

StringToSign = METHOD \\n Content-MD5 \\n Content-Type \\n Date \\n CanonicalizedAmzHeaders
CanonicalizedResource, where the date line is the Date header, the Expires parameter of
a presigned URL, or empty when x-amz-date is present (its value is then signed as an
amz header and the clock check uses it).

What we check, as strictly as the SigV4 code:
- header form: Date or x-amz-date must be valid and within 15 minutes (replay window);
- query form: AWSAccessKeyId, Expires and Signature are all required, and an Expires in
  the past is AWS's 403 "Request has expired";
- every x-amz-* header is part of the string to sign, so none can be added;
- a presigned URL carries its signed Content-Type, Content-MD5 and x-amz-* values in the
  query (botocore puts them there); a header that contradicts one is a mismatch, and
  `V2AuthResult.query_headers` hands them to the handler so it uses the signed values.

The canonical resource is AWS's `/bucket/key` built from the raw path as received,
`/bucket/` for a bucket, `/` for the service, plus the signed sub-resources. Botocore
signs exactly that whatever the endpoint's own path is, except ListBuckets, for which
it signs the URL's path (`/s3`); that one extra form is accepted when it cannot name a
bucket or an object.

SigV2 leaves the payload and every other query parameter unsigned: the body is checked
only against a Content-MD5 (or x-amz-content-sha256) the client sent, by the body
reader, and parameters outside `SUBRESOURCES` (prefix, max-keys, list-type, attributes
...) can be changed without breaking the signature. That is the protocol, as on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from s3proxy import errors
from s3proxy.auth.sigv4 import MAX_SKEW_SECONDS, SignedRequest

# The query parameters that are part of the canonical resource: botocore's
# HmacV1Auth.QSAOfInterest, which is AWS's list plus the newer sub-resources.
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle",
    "location", "logging", "metrics", "notification", "object-lock", "partNumber", "policy",
    "replication", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "select", "select-type", "storageClass", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website",
})

_V4_QUERY = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_V2_QUERY = ("AWSAccessKeyId", "Signature")
_QUERY_HEADERS = ("content-md5", "content-type")
_EXPIRES = re.compile(r"[0-9]{1,15}")
_ISO_BASIC = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")

_ONE_MECHANISM = ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
                  "query string parameter or the Authorization header should be specified")
_MISSING_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_BAD_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
_QUERY_REQUIRED = "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"


class Scheme(Enum):
    ANONYMOUS = "anonymous"
    SIGV2 = "sigv2"
    SIGV4 = "sigv4"


def auth_scheme(req: SignedRequest) -> Scheme:
    """Which verifier a request needs; raises InvalidArgument when it carries two.

    An Authorization header starting `AWS ` is SigV2, any other is SigV4 (whose parser
    answers unsupported mechanisms). No header and no signature parameter is anonymous.
    """
    header = req.get("authorization")
    keys = {k for k, _ in req.query}
    v4_query = any(p in keys for p in _V4_QUERY)
    v2_query = any(p in keys for p in _V2_QUERY)
    if (header is not None) + v4_query + v2_query > 1:
        raise errors.InvalidArgument(_ONE_MECHANISM)
    if header is not None:
        return Scheme.SIGV2 if header.startswith("AWS ") else Scheme.SIGV4
    if v4_query:
        return Scheme.SIGV4
    return Scheme.SIGV2 if v2_query else Scheme.ANONYMOUS


@dataclass(frozen=True)
class ParsedV2:
    """Everything taken from the request before the secret is known."""

    access_key_id: str
    signature: str
    presigned: bool
    date_line: str  # the Date header, the Expires parameter, or '' when x-amz-date is used
    content_md5: str
    content_type: str
    amz_headers: Mapping[str, str]  # lower-case x-amz-* name -> value, as signed
    query_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def session_token(self) -> str | None:
        return self.amz_headers.get("x-amz-security-token") or None


@dataclass(frozen=True)
class V2AuthResult:
    """A verified SigV2 signature. The payload is not signed: give the body reader
    `auth=None` and `effective_headers(headers)`, so it verifies Content-MD5 (and an
    x-amz-content-sha256 digest) when the client sent one."""

    access_key_id: str
    session_token: str | None
    presigned: bool
    query_headers: Mapping[str, str] = field(default_factory=dict)

    def effective_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Request headers (lower-case names) with the signed values a presigned URL
        carried in its query (Content-Type, Content-MD5, x-amz-*) laid over them."""
        return {**headers, **self.query_headers}


# -- parsing ----------------------------------------------------------------------------

def _epoch(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP date (RFC 1123 and friends) or an ISO 8601
    basic timestamp; None when missing, unparseable or before 1970."""
    if not value:
        return None
    match = _ISO_BASIC.fullmatch(value)
    try:
        if match is not None:
            y, mo, d, h, mi, s = (int(g) for g in match.groups())
            when = datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()
        else:
            parsed = parsedate_to_datetime(value)
            when = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when >= 0 else None


def _amz_headers(req: SignedRequest) -> dict[str, str]:
    return {k: v for k, v in req.headers.items() if k.startswith("x-amz-")}


def parse_auth(req: SignedRequest, *, now: float | None = None,
               max_skew: int = MAX_SKEW_SECONDS) -> ParsedV2:
    """Parse and time-check a SigV2 header or presigned query; raises errors.Error."""
    now = time.time() if now is None else now
    header = req.get("authorization")
    if header is not None:
        return _parse_header(req, header, now, max_skew)
    return _parse_query(req, now)


def _parse_header(req: SignedRequest, header: str, now: float, max_skew: int) -> ParsedV2:
    scheme, _, credentials = header.partition(" ")
    access_key, sep, signature = credentials.strip().partition(":")
    if scheme != "AWS" or not sep or not access_key or not signature:
        raise errors.InvalidArgument(_BAD_HEADER)
    amz_date = req.get("x-amz-date")
    date = amz_date if amz_date is not None else req.get("date")
    when = _epoch(date)
    if when is None:
        raise errors.AccessDenied(_MISSING_DATE)
    if abs(now - when) > max_skew:
        raise errors.RequestTimeTooSkewed()
    return ParsedV2(access_key, signature, False, "" if amz_date is not None else date or "",
                    req.get("content-md5") or "", req.get("content-type") or "", _amz_headers(req))


def _parse_query(req: SignedRequest, now: float) -> ParsedV2:
    access_key, signature = req.query_value("AWSAccessKeyId"), req.query_value("Signature")
    expires = req.query_value("Expires")
    if not access_key or not signature or not expires:
        raise errors.AccessDenied(_QUERY_REQUIRED)
    if not _EXPIRES.fullmatch(expires):
        raise errors.AccessDenied(f"Invalid date (should be seconds since epoch): {expires}")
    if now > int(expires):
        raise errors.AccessDenied("Request has expired")
    carried: dict[str, str] = {}
    for name, value in req.query:
        lower = name.lower()
        if lower.startswith("x-amz-") or lower in _QUERY_HEADERS:
            carried[lower] = f"{carried[lower]},{value}" if lower in carried else value
    for name, value in carried.items():
        sent = req.get(name)
        if sent is not None and sent != value.strip():
            raise errors.SignatureDoesNotMatch()  # the header contradicts the signed value
    headers = {**req.headers, **{k: v.strip() for k, v in carried.items()}}
    amz = {k: v for k, v in headers.items() if k.startswith("x-amz-")}
    # a '+' sent unescaped in the query decodes to ' '; base64 has no spaces
    return ParsedV2(access_key, signature.replace(" ", "+"), True, expires,
                    headers.get("content-md5", ""), headers.get("content-type", ""), amz, carried)


# -- checking ---------------------------------------------------------------------------

def _subresources(query: Sequence[tuple[str, str]]) -> str:
    """`?k=v&k2` for the signed sub-resources, sorted by name (stably, as botocore)."""
    pairs = sorted(((k, v) for k, v in query if k in SUBRESOURCES), key=lambda kv: kv[0])
    return "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs) if pairs else ""


def canonical_resources(raw_path: str, query: Sequence[tuple[str, str]], *, route_prefix: str = "",
                        virtual_bucket: str | None = None) -> list[str]:
    """The CanonicalizedResource forms this request may have been signed with.

    raw_path is the path as received (with the route prefix, still percent-encoded);
    virtual_bucket the bucket a virtual-host style Host named (routing.virtual_bucket).
    """
    rest = raw_path[len(route_prefix):] if route_prefix and raw_path.startswith(route_prefix) else raw_path
    rest = rest if rest.startswith("/") else "/" + rest
    if virtual_bucket is not None:
        rest = f"/{virtual_bucket}{rest}"
    paths = [rest]
    if rest == "/":
        # ListBuckets: botocore signs the URL's own path (`/s3`); only a one-segment
        # form, which can never be a bucket (`/b/`) or object (`/b/k`) resource
        if virtual_bucket is None and raw_path.count("/") == 1 and len(raw_path) > 1:
            paths.append(raw_path)
    elif "/" not in rest[1:]:
        paths = [rest + "/"]  # a bucket is `/bucket/`, however the path ended
    suffix = _subresources(query)
    return [p + suffix for p in paths]


def string_to_sign(method: str, parsed: ParsedV2, resource: str, date_line: str | None = None,
                   amz_headers: Mapping[str, str] | None = None) -> str:
    amz_headers = parsed.amz_headers if amz_headers is None else amz_headers
    date_line = parsed.date_line if date_line is None else date_line
    amz = [f"{name}:{amz_headers[name]}" for name in sorted(amz_headers)]
    return "\n".join([method, parsed.content_md5, parsed.content_type, date_line, *amz, resource])


def strings_to_sign(method: str, parsed: ParsedV2, resource: str) -> list[str]:
    """AWS's rule (empty date line, x-amz-date among the amz headers: s3cmd, boto2, the
    Java SDK, MinIO), and the form of AWS's own DELETE example, which puts the x-amz-date
    value on the date line instead. Both sign the same values."""
    forms = [string_to_sign(method, parsed, resource)]
    amz_date = parsed.amz_headers.get("x-amz-date")
    if not parsed.presigned and amz_date is not None:
        others = {k: v for k, v in parsed.amz_headers.items() if k != "x-amz-date"}
        forms.append(string_to_sign(method, parsed, resource, amz_date, others))
    return forms


def sign(secret: str, string: str) -> str:
    """base64(HMAC-SHA1(secret, string)): SigV2's request and POST policy signature."""
    return base64.b64encode(hmac.new(secret.encode(), string.encode(), hashlib.sha1).digest()).decode()


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison that also survives non-ASCII input."""
    return hmac.compare_digest(expected.encode(), given.encode())


def check_signature(req: SignedRequest, parsed: ParsedV2, secret: str, *, route_prefix: str = "",
                    virtual_bucket: str | None = None) -> V2AuthResult:
    """Recompute the signature with `secret`; raises SignatureDoesNotMatch."""
    for resource in canonical_resources(req.raw_path, req.query, route_prefix=route_prefix,
                                        virtual_bucket=virtual_bucket):
        for string in strings_to_sign(req.method, parsed, resource):
            if signatures_match(sign(secret, string), parsed.signature):
                return V2AuthResult(parsed.access_key_id, parsed.session_token, parsed.presigned,
                                    dict(parsed.query_headers))
    raise errors.SignatureDoesNotMatch()


def verify(req: SignedRequest, secret_for: Callable[[str], str | None], *, route_prefix: str = "",
           virtual_bucket: str | None = None, now: float | None = None,
           max_skew: int = MAX_SKEW_SECONDS) -> V2AuthResult:
    """Parse, look up the secret, check. Unknown access key -> InvalidAccessKeyId (403)."""
    parsed = parse_auth(req, now=now, max_skew=max_skew)
    secret = secret_for(parsed.access_key_id)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    return check_signature(req, parsed, secret, route_prefix=route_prefix, virtual_bucket=virtual_bucket)
