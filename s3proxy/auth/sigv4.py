"""AWS Signature Version 4 verification for the S3 protocol (header and presigned query).

Protocol-neutral on purpose: the S3 handler copies four things out of the tornado
request (method, raw path, raw query, header pairs) into a `SignedRequest`, and
everything here is plain computation that unit tests can drive with botocore.

Where the reference server (Supabase Storage, reference §7.2) and AWS differ we follow
AWS, and we close the reference's gaps:
- header-signed requests get the 15-minute clock-skew check (replay window);
- `host` must be signed, and every `x-amz-*` header present must be signed (AWS's
  "headers present in the request which were not signed"), so nobody can add
  `x-amz-copy-source` or metadata to a presigned URL;
- the signed-header list is canonicalised exactly as the client listed it (the
  reference silently drops some names, which breaks honest clients);
- expired presigned URLs give AWS's 403 AccessDenied "Request has expired".
The region is not enforced: we verify with whatever region the client put in its
credential scope, as a single-region S3 endpoint reachable under any name would.

Secrets are looked up by access key id in between parsing and checking, so a caller
whose lookup is async can use `parse_auth` + `check_signature` instead of `verify`.
Derived signing keys are cached (LRU) because the HMAC chain costs four HMACs per
request and clients reuse a key all day.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import lru_cache
from urllib.parse import parse_qsl, quote

from s3proxy import errors

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_INTEGER = re.compile(r"-?[0-9]+")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_MISSING_DATE = "AWS authentication requires a valid Date or x-amz-date header"


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that SigV4 covers, exactly as received.

    raw_path: the path as sent on the wire (still percent-encoded), without the query.
    query: decoded (key, value) pairs in order; repeated keys allowed, valueless keys ''.
    headers: lower-case name -> value; repeated headers joined with ','.
    """

    method: str
    raw_path: str
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_parts(cls, method: str, raw_path: str, raw_query: str,
                   header_pairs: Iterable[tuple[str, str]], *, host: str | None = None) -> SignedRequest:
        """Build from wire parts; `host` overrides the Host header (e.g. a public URL's host)."""
        headers = headers_from_pairs(header_pairs)
        if host is not None:
            headers["host"] = host
        return cls(method.upper(), raw_path, parse_query(raw_query), headers)

    def get(self, name: str) -> str | None:
        return self.headers.get(name)

    def query_value(self, key: str) -> str | None:
        for k, v in self.query:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class AuthResult:
    """A verified signature, and what the body decoder needs to go on verifying."""

    access_key_id: str
    session_token: str | None
    signing_key: bytes
    date: str  # ISO-8601 basic timestamp used in the string to sign (20130524T000000Z)
    scope: str  # date/region/s3/aws4_request
    seed_signature: str
    payload_hash: str  # the declared x-amz-content-sha256 value (or UNSIGNED-PAYLOAD)
    presigned: bool
    region: str = ""


@dataclass(frozen=True)
class ParsedAuth:
    """Everything taken from the request before the secret is known."""

    access_key_id: str
    session_token: str | None
    date: str
    region: str
    service: str
    signed_headers: str  # as the client listed them, ';'-separated
    signature: str
    presigned: bool
    canonical_payload: str  # the payload line of the canonical request
    payload_hash: str  # what the body must be checked against

    @property
    def scope(self) -> str:
        return f"{self.date[:8]}/{self.region}/{self.service}/aws4_request"


class PayloadMode(Enum):
    UNSIGNED = "unsigned"  # UNSIGNED-PAYLOAD: pass the body through
    SHA256 = "sha256"  # a declared hex sha256: verify while streaming
    CHUNKED_SIGNED = "chunked-signed"  # aws-chunked with chunk signatures
    CHUNKED_SIGNED_TRAILER = "chunked-signed-trailer"  # ... plus a signed trailer
    CHUNKED_UNSIGNED_TRAILER = "chunked-unsigned-trailer"  # aws-chunked, no signatures, trailer


def payload_mode(payload_hash: str) -> PayloadMode:
    """How the body of a request with this declared x-amz-content-sha256 must be read."""
    if payload_hash == UNSIGNED_PAYLOAD:
        return PayloadMode.UNSIGNED
    if payload_hash == STREAMING_SIGNED:
        return PayloadMode.CHUNKED_SIGNED
    if payload_hash == STREAMING_SIGNED_TRAILER:
        return PayloadMode.CHUNKED_SIGNED_TRAILER
    if payload_hash == STREAMING_UNSIGNED_TRAILER:
        return PayloadMode.CHUNKED_UNSIGNED_TRAILER
    if _HEX64.match(payload_hash):
        return PayloadMode.SHA256
    raise errors.InvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.")


class ContentSha256:
    """Hashes a body while it streams and checks it against the declared hex sha256."""

    def __init__(self, expected_hex: str) -> None:
        self.expected = expected_hex.lower()
        self._hash = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def verify(self) -> None:
        if not hmac.compare_digest(self._hash.hexdigest(), self.expected):
            raise errors.XAmzContentSHA256Mismatch()


# -- wire helpers ---------------------------------------------------------------------

def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Decoded query pairs in order ('+' is a space, as S3 reads it); `a` gives ('a', '')."""
    return parse_qsl(raw_query, keep_blank_values=True)


def headers_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; values trimmed and repeated headers joined with ',' (SigV4 rule)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower().strip()
        value = value.strip()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def has_signature(req: SignedRequest) -> bool:
    """Whether the request carries any signature at all (else it is anonymous)."""
    if "authorization" in req.headers:
        return True
    keys = {k for k, _ in req.query}
    return any(p in keys for p in _PRESIGN_PARAMS) or "Signature" in keys or "AWSAccessKeyId" in keys


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _uri_encode(value: str) -> str:
    """SigV4's URI encoding; most query values (dates, scopes' parts, hex) need none."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="-_.~")


def canonical_query(query: Iterable[tuple[str, str]], *, skip_signature: bool = False) -> str:
    pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in query
                   if not (skip_signature and k == "X-Amz-Signature"))
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trimall(value: str) -> str:
    return " ".join(value.split())


@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The HMAC chain AWS4<secret> -> date -> region -> service -> aws4_request (cached)."""
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(key: bytes, string_to_sign: str) -> str:
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def chunk_string_to_sign(auth: AuthResult, previous: str, chunk_sha256_hex: str) -> str:
    return f"AWS4-HMAC-SHA256-PAYLOAD\n{auth.date}\n{auth.scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256_hex}"


def trailer_string_to_sign(auth: AuthResult, previous: str, trailer_sha256_hex: str) -> str:
    return f"AWS4-HMAC-SHA256-TRAILER\n{auth.date}\n{auth.scope}\n{previous}\n{trailer_sha256_hex}"


# -- parsing ----------------------------------------------------------------------------

def _malformed(presigned: bool, message: str) -> errors.Error:
    """AWS's codes for unparseable credentials (the reference says InvalidArgument and
    InvalidRequest; S3 clients and SDKs know AWS's)."""
    if presigned:
        return errors.AuthorizationQueryParametersError(message)
    return errors.AuthorizationHeaderMalformed(message)


def _parse_credential(value: str, presigned: bool) -> tuple[str, str, str, str]:
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or parts[4] != "aws4_request" or not parts[2]:
        raise _malformed(presigned, "Error parsing the X-Amz-Credential parameter; the Credential is "
                         "mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    access_key, date, region, service, _ = parts
    if service != "s3":
        raise _malformed(presigned, f"Error parsing the Credential; incorrect service \"{service}\". "
                         "This endpoint belongs to \"s3\".")
    if not re.fullmatch(r"\d{8}", date):
        raise _malformed(presigned, "Error parsing the Credential; invalid date.")
    return access_key, date, region, service


def _epoch(amz_date: str) -> float | None:
    """Seconds since the epoch of an X-Amz-Date (`20240101T000000Z`), None if it is not
    a valid one. Parsed by hand: `strptime` cost more than the rest of the check."""
    match = _AMZ_DATE.fullmatch(amz_date)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:  # month 13 and the like
        return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_authorization_header(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.InvalidRequest("The authorization mechanism you have provided is not "
                           "supported. Please use AWS4-HMAC-SHA256.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, val = part.strip().partition("=")
        if eq:
            fields[name.strip()] = val.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise _malformed(False, f"The authorization header is malformed; missing {required}.")
    return fields


def _check_headers_signed(req: SignedRequest, signed: Sequence[str], presigned: bool) -> None:
    names = set(signed)
    if "host" not in names:
        raise _malformed(presigned, "The host header must be signed.")
    unsigned = sorted(n for n in req.headers if n.startswith("x-amz-") and n not in names)
    if unsigned:
        raise errors.AccessDenied("There were headers present in the request which were not "
                           "signed: " + ", ".join(unsigned))


def parse_auth(req: SignedRequest, *, now: float | None = None,
               max_skew: int = MAX_SKEW_SECONDS) -> ParsedAuth:
    """Parse and time-check the signature carrier; raises errors.Error. No secret needed."""
    now = time.time() if now is None else now
    keys = {k for k, _ in req.query}
    header = req.get("authorization")
    if header is not None and "X-Amz-Algorithm" in keys:
        raise errors.InvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm "
                           "query parameter, Signature query string parameter or the Authorization header "
                           "should be specified")
    if header is not None:
        return _parse_header_auth(req, header, now, max_skew)
    if any(p in keys for p in _PRESIGN_PARAMS):
        return _parse_presigned(req, now, max_skew)
    if "Signature" in keys or "AWSAccessKeyId" in keys:
        raise errors.InvalidRequest("The authorization mechanism you have provided is not "
                           "supported. Please use AWS4-HMAC-SHA256.")
    raise errors.AccessDenied("Missing signature")


def _parse_header_auth(req: SignedRequest, header: str, now: float, max_skew: int) -> ParsedAuth:
    fields = _parse_authorization_header(header)
    access_key, cred_date, region, service = _parse_credential(fields["Credential"], False)
    signed = fields["SignedHeaders"].split(";")
    _check_headers_signed(req, signed, False)
    amz_date = req.get("x-amz-date")
    if amz_date is not None:
        when = _epoch(amz_date)
        if when is None:
            raise errors.AccessDenied(_MISSING_DATE)
    elif req.get("date") is not None:
        if "date" not in signed:
            raise _malformed(False, "The date header must be signed.")
        try:
            parsed = parsedate_to_datetime(req.headers["date"])
        except (TypeError, ValueError):
            raise errors.AccessDenied(_MISSING_DATE) from None
        when = parsed.timestamp()
        amz_date = datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")
    else:
        raise errors.AccessDenied(_MISSING_DATE)
    if cred_date != amz_date[:8]:
        raise _malformed(False, "The authorization header is malformed; Invalid credential date. "
                         "Date is not the same as X-Amz-Date.")
    if abs(now - when) > max_skew:
        raise errors.RequestTimeTooSkewed()
    declared = req.get("x-amz-content-sha256")
    if declared is None:
        raise errors.InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    payload_mode(declared)  # validates the value
    return ParsedAuth(access_key, req.get("x-amz-security-token"), amz_date, region, service,
                      fields["SignedHeaders"], fields["Signature"], False, declared, declared)


def _parse_presigned(req: SignedRequest, now: float, max_skew: int) -> ParsedAuth:
    def need(name: str) -> str:
        value = req.query_value(name)
        if not value:
            raise _malformed(True, "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                             "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                             "X-Amz-Expires parameters.")
        return value

    if need("X-Amz-Algorithm") != ALGORITHM:
        raise _malformed(True, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
    access_key, cred_date, region, service = _parse_credential(need("X-Amz-Credential"), True)
    amz_date, expires_raw = need("X-Amz-Date"), need("X-Amz-Expires")
    signed_headers, signature = need("X-Amz-SignedHeaders"), need("X-Amz-Signature")
    when = _epoch(amz_date)
    if when is None:
        raise _malformed(True, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if not _INTEGER.fullmatch(expires_raw):
        raise _malformed(True, "X-Amz-Expires should be a number")
    expires = int(expires_raw)
    # out of range or spent: 403 AccessDenied (s3-tests' x_amz_expires_out_range_zero,
    # _out_positive_range and _out_max_range expect 403) with AWS's messages
    if expires < 0:
        raise errors.AccessDenied("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise errors.AccessDenied("X-Amz-Expires must be less than a week (in seconds); that is, the given "
                                  f"X-Amz-Expires must be less than {MAX_PRESIGN_EXPIRES} seconds")
    if cred_date != amz_date[:8]:
        raise _malformed(True, "Invalid credential date. Date is not the same as X-Amz-Date.")
    _check_headers_signed(req, signed_headers.split(";"), True)
    if now < when - max_skew:
        raise errors.AccessDenied("Request is not valid yet")
    if expires == 0 or now > when + expires:
        raise errors.AccessDenied("Request has expired", details=(
            ("X-Amz-Expires", str(expires)), ("Expires", _iso(when + expires)), ("ServerTime", _iso(now))))
    canonical_payload = req.query_value("X-Amz-Content-Sha256") or UNSIGNED_PAYLOAD
    declared = req.get("x-amz-content-sha256") or canonical_payload
    payload_mode(declared)
    return ParsedAuth(access_key, req.query_value("X-Amz-Security-Token") or None, amz_date, region,
                      service, signed_headers, signature, True, canonical_payload, declared)


# -- checking ---------------------------------------------------------------------------

def canonical_request(req: SignedRequest, parsed: ParsedAuth, prefix: str = "") -> str:
    names = parsed.signed_headers.split(";")
    headers = "".join(f"{n}:{_trimall(req.headers.get(n, ''))}\n" for n in names)
    query = canonical_query(req.query, skip_signature=parsed.presigned)
    return "\n".join((req.method, prefix + req.raw_path, query, headers, parsed.signed_headers,
                      parsed.canonical_payload))


def check_signature(req: SignedRequest, parsed: ParsedAuth, secret: str, *, prefix: str = "") -> AuthResult:
    """Recompute the signature with `secret`; raises SignatureDoesNotMatch.

    With a `prefix` (S3_PROTOCOL_PREFIX, e.g. '/storage/v1'), the path signed through a
    gateway that strips it (prefix + raw path) is tried first, then the raw path itself
    (a client talking to us directly). Both name the same resource, so accepting either
    widens nothing.
    """
    key = signing_key(secret, parsed.date[:8], parsed.region, parsed.service)
    scope = parsed.scope
    for candidate in ((prefix, "") if prefix else ("",)):
        for encoded in _canonical_bytes(canonical_request(req, parsed, candidate)):
            sts = f"{ALGORITHM}\n{parsed.date}\n{scope}\n{hashlib.sha256(encoded).hexdigest()}"
            if hmac.compare_digest(sign(key, sts).encode(), parsed.signature.lower().encode()):  # any text
                return AuthResult(parsed.access_key_id, parsed.session_token, key, parsed.date, scope,
                                  parsed.signature.lower(), parsed.payload_hash, parsed.presigned,
                                  parsed.region)
    raise errors.SignatureDoesNotMatch()


def _canonical_bytes(creq: str) -> list[bytes]:
    """The canonical request as the client may have hashed it. Only header values can
    hold non-ASCII (the path and query are percent-encoded), and tornado hands them over
    decoded as latin-1, one character per byte, so encoding back to latin-1 gives the
    bytes received: what clients hash and send (botocore, Go, JavaScript and curl send
    x-amz-meta-* values as raw UTF-8). A client that hashed its text's UTF-8 but sent
    latin-1 bytes (a str header through Python's http.client) matches the second
    reading. Both readings cover the same header, so accepting either widens nothing;
    ASCII requests, nearly all of them, have one."""
    if creq.isascii():
        return [creq.encode()]
    try:
        return [creq.encode("latin-1"), creq.encode()]
    except UnicodeEncodeError:  # beyond latin-1: not bytes tornado decoded (a configured prefix)
        return [creq.encode()]


def verify(req: SignedRequest, secret_for: Callable[[str], str | None], *, prefix: str = "",
           now: float | None = None, max_skew: int = MAX_SKEW_SECONDS) -> AuthResult:
    """Parse, look up the secret, check. Unknown access key -> InvalidAccessKeyId (403)."""
    parsed = parse_auth(req, now=now, max_skew=max_skew)
    secret = secret_for(parsed.access_key_id)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    return check_signature(req, parsed, secret, prefix=prefix)
