"""Cross-origin requests from browsers (CORS), for every protocol.

Web apps call storage straight from the browser (supabase-js, tus-js-client, the AWS
SDK, presigned URLs), so the server answers preflights and labels its responses
itself; Supabase leaves that to its gateway. A `CorsRule` is the shape S3's bucket
CORS configuration uses (origins, methods, headers, exposed headers, max age), and
the server-wide default (CORS_ALLOWED_ORIGINS) is one such rule. An S3 bucket with a
CORS configuration of its own (PutBucketCors) is answered from its rules instead.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH")
# what browsers may read from responses: validators, ranges, S3's and TUS's own headers
EXPOSED = ("ETag", "Content-Range", "Content-Length", "Content-Disposition", "Last-Modified", "Location",
           "x-amz-request-id", "x-amz-version-id", "x-amz-checksum-crc32", "x-amz-checksum-crc32c",
           "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1", "x-amz-checksum-sha256", "Upload-Offset",
           "Upload-Length", "Upload-Expires", "Upload-Metadata", "Upload-Defer-Length", "Tus-Resumable",
           "Tus-Version", "Tus-Extension", "Tus-Max-Size", "X-Transformations")
MAX_AGE = 86400


@dataclass(frozen=True)
class CorsRule:
    origins: tuple[str, ...]  # "*" or patterns with at most one "*" (S3's rule)
    methods: tuple[str, ...] = METHODS
    headers: tuple[str, ...] = ("*",)  # request headers a preflight may ask for
    expose: tuple[str, ...] = EXPOSED
    max_age: int | None = MAX_AGE
    id: str | None = None

    def allows(self, origin: str, method: str, headers: Sequence[str] = ()) -> bool:
        return (_matches(self.origins, origin, case=True) and method.upper() in self.methods
                and all(_matches(self.headers, h, case=False) for h in headers))

    def to_json(self) -> dict[str, Any]:
        return {"origins": list(self.origins), "methods": list(self.methods), "headers": list(self.headers),
                "expose": list(self.expose), "max_age": self.max_age, "id": self.id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorsRule:
        return cls(tuple(data["origins"]), tuple(data["methods"]), tuple(data.get("headers") or ()),
                   tuple(data.get("expose") or ()), data.get("max_age"), data.get("id"))


@dataclass(frozen=True)
class CorsAnswer:
    """The headers of a response to a (preflight or actual) cross-origin request."""

    headers: dict[str, str] = field(default_factory=dict)


def _matches(patterns: Iterable[str], value: str, *, case: bool) -> bool:
    if not case:
        value = value.lower()
    for pattern in patterns:
        pattern = pattern if case else pattern.lower()
        if pattern == "*" or pattern == value or ("*" in pattern and fnmatch.fnmatchcase(value, pattern)):
            return True
    return False


def server_rule(allowed_origins: str) -> CorsRule | None:
    """The server-wide rule from CORS_ALLOWED_ORIGINS ("*", a comma-separated list, or
    empty for none)."""
    origins = tuple(o.strip() for o in allowed_origins.split(",") if o.strip())
    return CorsRule(origins) if origins else None


def requested_headers(value: str | None) -> list[str]:
    return [h.strip() for h in (value or "").split(",") if h.strip()]


def preflight(rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str]) -> CorsAnswer | None:
    """The answer to an OPTIONS preflight, or None when no rule allows it."""
    for rule in rules:
        if rule.allows(origin, method, headers):
            out = {"Access-Control-Allow-Origin": "*" if rule.origins == ("*",) else origin,
                   "Access-Control-Allow-Methods": ", ".join(rule.methods)}
            if headers:
                out["Access-Control-Allow-Headers"] = ", ".join(headers)
            if rule.max_age is not None:
                out["Access-Control-Max-Age"] = str(rule.max_age)
            if rule.origins != ("*",):
                out["Vary"] = "Origin"
            return CorsAnswer(out)
    return None


def actual(rules: Sequence[CorsRule], origin: str, method: str) -> CorsAnswer | None:
    """The headers that let the browser hand the response of a cross-origin request to
    the page, or None when no rule allows it (the browser then withholds it)."""
    for rule in rules:
        if rule.allows(origin, method):
            out = {"Access-Control-Allow-Origin": "*" if rule.origins == ("*",) else origin}
            if rule.expose:
                out["Access-Control-Expose-Headers"] = ", ".join(rule.expose)
            if rule.origins != ("*",):
                out["Vary"] = "Origin"
            return CorsAnswer(out)
    return None
