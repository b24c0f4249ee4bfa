"""Browser form uploads (S3 POST Object): the signed policy and its conditions.

A form carries a base64 JSON policy (expiration + conditions), a signature over that
base64 string, and the upload's fields. SigV4 forms (boto3's `generate_presigned_post`,
the AWS SDKs) send x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature
and sign with the SigV4 key of the credential's scope; SigV2 forms send AWSAccessKeyId
and signature (base64 HMAC-SHA1).

The handler reads the form in order (AWS ignores fields after the file) and calls:

    fields = form_fields(pairs_before_the_file)   # lower-case names; duplicates, size
    parsed = parse(fields)                         # credentials and the policy: 400s
    secret = <look up parsed.access_key_id / parsed.session_token>
    upload = check(parsed, secret, bucket=url_bucket, filename=file_part_filename)
    ... while streaming: upload.check_size(bytes_so_far)   # EntityTooLarge early
    ... at the end:      upload.check_size(total, final=True)   # EntityTooSmall

AWS's rules, as its documentation and the S3 conformance tests (ceph/s3-tests) state
them: field names and condition operators are case-insensitive, values case-sensitive;
`${filename}` is substituted into the key before the conditions are evaluated; a
condition on a field the form does not carry fails (even `starts-with ""`); the bucket
is the URL's and must be covered like any field; every field except the signature,
`policy`, `file` and `x-ignore-*` must be covered by a condition; the policy's own
top-level names are case-sensitive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3proxy import errors
from s3proxy.auth import sigv2
from s3proxy.auth.sigv4 import ALGORITHM, signing_key

MAX_PRE_DATA = 20 * 1024  # AWS: the fields before the file may total 20 KB

_EXPIRATION = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?Z")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIZE = re.compile(r"[0-9]{1,19}")
_V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")
_V2_FIELDS = ("awsaccesskeyid", "signature")
_UNCOVERED = {4: frozenset({"policy", "x-amz-signature", "file"}),
              2: frozenset({"policy", "signature", "awsaccesskeyid", "file"})}


# -- errors -------------------------------------------------------------------------------

def _invalid_policy(message: str) -> errors.Error:
    return errors.InvalidPolicyDocument(f"Invalid Policy: {message}")


def _denied(message: str) -> errors.Error:
    return errors.AccessDenied(f"Invalid according to Policy: {message}")


def _missing(name: str) -> errors.Error:
    return errors.InvalidArgument(f"Bucket POST must contain a field named '{name}'.  "
                                  "If it is specified, please check the order of the fields.")


_PRE_DATA = "Your POST request fields preceding the upload file were too large."


# -- the policy document -----------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    op: str  # "eq" or "starts-with"
    field: str  # lower-case form field name
    value: str
    text: str  # as AWS quotes it in errors: ["starts-with", "$key", "user/"]

    def holds(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.op == "eq":
            return value == self.value
        if self.field == "content-type":  # a list of types: each must match
            return all(part.strip().startswith(self.value) for part in value.split(","))
        return value.startswith(self.value)


@dataclass(frozen=True)
class Policy:
    expiration: float
    conditions: tuple[Condition, ...]
    min_size: int = 0
    max_size: int | None = None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _invalid_policy(f"Duplicate key '{name}'.")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise _invalid_policy("Invalid JSON.")


def _expiration(value: Any) -> float:
    match = _EXPIRATION.fullmatch(value) if isinstance(value, str) else None
    if match is not None:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
        except ValueError:  # month 13 and the like
            pass
    raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")


def _size(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    return int(value) if isinstance(value, str) and _SIZE.fullmatch(value) else None


def _condition(item: Any) -> Condition | tuple[int, int]:
    """One condition: a Condition, or the (min, max) of a content-length-range."""
    if isinstance(item, dict):
        if len(item) != 1:
            raise _invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one "
                                  "property specified.")
        ((name, value),) = item.items()
        if not isinstance(value, str):
            raise _invalid_policy(f"Invalid Simple-Condition: the value of '{name}' must be a string.")
        return Condition("eq", name.lower(), value, json.dumps(["eq", "$" + name, value], ensure_ascii=False))
    text = json.dumps(item, ensure_ascii=False)
    op = item[0].lower() if isinstance(item, list) and item and isinstance(item[0], str) else None
    if op in ("eq", "starts-with"):
        if len(item) != 3 or not all(isinstance(x, str) for x in item[1:]) or not item[1].startswith("$") \
                or len(item[1]) < 2:
            raise _invalid_policy(f"Invalid '{op}' condition: {text}; expected [\"{op}\", \"$field\", \"value\"].")
        return Condition(op, item[1][1:].lower(), item[2], text)
    if op == "content-length-range":
        low, high = (_size(item[1]), _size(item[2])) if len(item) == 3 else (None, None)
        if low is None or high is None or low > high:
            raise _invalid_policy(f"Invalid 'content-length-range' condition: {text}; expected "
                                  "[\"content-length-range\", min, max] with 0 <= min <= max.")
        return low, high
    raise _invalid_policy(f"Invalid Condition: {text}")


def decode_policy(policy_b64: str) -> Policy:
    """The policy document, strictly: base64 of UTF-8 JSON, no duplicate keys, exactly
    `expiration` (ISO 8601, UTC) and `conditions` (a list)."""
    if len(policy_b64) > MAX_PRE_DATA:
        raise errors.MaxPostPreDataLengthExceeded(_PRE_DATA)
    try:
        raw = base64.b64decode("".join(policy_b64.split()), validate=True)
    except binascii.Error:
        raise _invalid_policy("The policy is not valid base64.") from None
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ValueError:
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid_policy("Invalid JSON.")
    for name in ("expiration", "conditions"):
        if name not in doc:
            raise _invalid_policy(f"Policy missing {name}.")
    unexpected = sorted(set(doc) - {"expiration", "conditions"})
    if unexpected:
        raise _invalid_policy(f"Unexpected field '{unexpected[0]}'.")
    if not isinstance(doc["conditions"], list):
        raise _invalid_policy("Invalid 'conditions' value: it must be a list.")
    conditions: list[Condition] = []
    min_size, max_size = 0, None
    for item in doc["conditions"]:
        parsed = _condition(item)
        if isinstance(parsed, Condition):
            conditions.append(parsed)
        else:  # several ranges: all of them apply
            min_size = max(min_size, parsed[0])
            max_size = parsed[1] if max_size is None else min(max_size, parsed[1])
    return Policy(_expiration(doc["expiration"]), tuple(conditions), min_size, max_size)


# -- the form ------------------------------------------------------------------------------

def form_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The fields before the file, by lower-case name; a repeated field or more than
    MAX_PRE_DATA bytes of names and values is rejected."""
    fields: dict[str, str] = {}
    total = 0
    for name, value in pairs:
        total += len(name.encode()) + len(value.encode())
        if total > MAX_PRE_DATA:
            raise errors.MaxPostPreDataLengthExceeded(_PRE_DATA)
        lower = name.lower()
        if lower in fields:
            raise errors.MalformedPOSTRequest("The body of your POST request is not well-formed "
                                              f"multipart/form-data: the field '{name}' appears more than once.")
        fields[lower] = value
    return fields


def is_signed(fields: Mapping[str, str]) -> bool:
    """Whether the form carries a policy or signature at all (else it is anonymous)."""
    return any(name in fields for name in ("policy", *_V4_FIELDS, *_V2_FIELDS))


@dataclass(frozen=True)
class ParsedPost:
    """Everything taken from the form before the secret is known."""

    version: int  # 4 or 2
    access_key_id: str
    session_token: str | None
    signature: str
    policy_b64: str
    policy: Policy
    fields: Mapping[str, str]
    scope: tuple[str, str, str] = ("", "", "")  # SigV4: date, region, service


@dataclass(frozen=True)
class PostUpload:
    """A verified form: who signed it, the object key and fields, the allowed size."""

    access_key_id: str
    session_token: str | None
    key: str  # with ${filename} substituted
    fields: Mapping[str, str]  # lower-case names, as submitted (key substituted)
    min_size: int = 0
    max_size: int | None = None

    def check_size(self, size: int, *, final: bool = False) -> None:
        """Call with the bytes received so far while streaming, and once more with
        final=True at the end of the file."""
        if self.max_size is not None and size > self.max_size:
            raise errors.EntityTooLarge("Your proposed upload exceeds the maximum allowed size")
        if final and size < self.min_size:
            raise errors.EntityTooSmall("Your proposed upload is smaller than the minimum allowed size")


def _need(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise _missing(name)
    return value


def _credential(value: str) -> tuple[str, str, str, str]:
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or not re.fullmatch(r"[0-9]{8}", parts[1]) or not parts[2] \
            or parts[3] != "s3" or parts[4] != "aws4_request":
        raise errors.InvalidArgument("Error parsing the X-Amz-Credential parameter; the Credential is "
                                     "mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    return parts[0], parts[1], parts[2], parts[3]


def parse(fields: Mapping[str, str]) -> ParsedPost:
    """Credentials and the decoded policy of a signed form (see form_fields); raises the
    400s of a malformed form or policy. No secret needed."""
    v4 = any(name in fields for name in _V4_FIELDS)
    if v4 and any(name in fields for name in _V2_FIELDS):
        raise errors.InvalidArgument("Only one auth mechanism allowed; only the x-amz-signature or the "
                                     "signature field should be specified")
    policy_b64 = _need(fields, "policy")
    _need(fields, "key")
    token = fields.get("x-amz-security-token") or None
    if any(name in fields for name in _V2_FIELDS):
        access_key, signature = _need(fields, "awsaccesskeyid"), _need(fields, "signature")
        return ParsedPost(2, access_key, token, signature, policy_b64, decode_policy(policy_b64), fields)
    if _need(fields, "x-amz-algorithm") != ALGORITHM:
        raise errors.InvalidArgument(f"X-Amz-Algorithm only supports \"{ALGORITHM}\"")
    access_key, date, region, service = _credential(_need(fields, "x-amz-credential"))
    amz_date = _need(fields, "x-amz-date")
    if not _AMZ_DATE.fullmatch(amz_date) or amz_date[:8] != date:
        raise errors.InvalidArgument("X-Amz-Date must be in the ISO8601 Long Format "
                                     "\"yyyyMMdd'T'HHmmss'Z'\" and on the day of the credential")
    signature = _need(fields, "x-amz-signature")
    return ParsedPost(4, access_key, token, signature, policy_b64, decode_policy(policy_b64), fields,
                      (date, region, service))


def _expected_signature(parsed: ParsedPost, secret: str) -> str:
    if parsed.version == 2:
        return sigv2.sign(secret, parsed.policy_b64)
    key = signing_key(secret, *parsed.scope)
    return hmac.new(key, parsed.policy_b64.encode(), hashlib.sha256).hexdigest()


def check(parsed: ParsedPost, secret: str, *, bucket: str, filename: str = "",
          now: float | None = None) -> PostUpload:
    """Verify the signature, the expiration and every condition against the form.

    bucket: the bucket the URL names; filename: the file part's filename (for `${filename}`).
    """
    given = parsed.signature.lower() if parsed.version == 4 else parsed.signature
    if not sigv2.signatures_match(_expected_signature(parsed, secret), given):
        raise errors.SignatureDoesNotMatch()
    policy = parsed.policy
    if (time.time() if now is None else now) > policy.expiration:
        raise _denied("Policy expired.")
    values = dict(parsed.fields)
    if values.get("bucket", bucket) != bucket:
        raise errors.InvalidArgument("The bucket field does not name the bucket of the URL.")
    values["bucket"] = bucket
    values["key"] = values["key"].replace("${filename}", filename)
    for condition in policy.conditions:
        if not condition.holds(values.get(condition.field)):
            raise _denied(f"Policy Condition failed: {condition.text}")
    covered = {c.field for c in policy.conditions} | _UNCOVERED[parsed.version]
    extra = [name for name in values if name not in covered and not name.startswith("x-ignore-")]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")
    return PostUpload(parsed.access_key_id, parsed.session_token, values["key"], values,
                      policy.min_size, policy.max_size)


def verify(fields: Mapping[str, str], secret_for: Callable[[str], str | None], *, bucket: str,
           filename: str = "", now: float | None = None) -> PostUpload:
    """parse + secret lookup + check. Unknown access key -> InvalidAccessKeyId (403)."""
    parsed = parse(fields)
    secret = secret_for(parsed.access_key_id)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    return check(parsed, secret, bucket=bucket, filename=filename, now=now)
