"""HTTP Range and conditional-request rules, evaluated against stored metadata.

Both protocols use them: REST downloads (Range, If-None-Match, If-Modified-Since)
and S3 GET/HEAD/CopyObject (all four conditionals with AWS's precedence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from s3proxy import errors

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.I)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single `bytes=` range, None for "whole object".

    Unsatisfiable ranges raise InvalidRange (416); syntactically invalid or multi-range
    headers are ignored, as S3 does."""
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None
    first, last = match.group(1), match.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise errors.InvalidRange("The requested range is not satisfiable")
        if size == 0:
            return None
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise errors.InvalidRange("The requested range is not satisfiable")
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def etag_candidates(header: str) -> list[str]:
    """The ETags an If-Match / If-None-Match header lists, without W/ and quotes; "*"
    stays as is and matches any ETag."""
    out = []
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        out.append(candidate if candidate == "*" else candidate.strip('"'))
    return out


def _etag_matches(header: str, etag: str) -> bool:
    wanted = etag.strip().strip('"')
    return any(c == "*" or c == wanted for c in etag_candidates(header))


@dataclass(frozen=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None

    def matches_etag(self, etag: str) -> bool:
        """Does If-Match hold for `etag`?"""
        return self.if_match is not None and _etag_matches(self.if_match, etag)

    def check(self, etag: str, last_modified: datetime, *, for_read: bool = True) -> None:
        """Raise PreconditionFailed (412) or NotModified (304) per RFC 7232 as S3 applies it:
        If-Match wins over If-Unmodified-Since; If-None-Match wins over If-Modified-Since.
        A 304 carries the object's ETag and Last-Modified (RFC 7232 §4.1; S3 sends both)."""
        modified = last_modified.replace(microsecond=0)
        if self.if_match is not None:
            if not _etag_matches(self.if_match, etag):
                raise errors.PreconditionFailed()
        elif (since := http_date(self.if_unmodified_since)) is not None and modified > since:
            raise errors.PreconditionFailed()
        if self.if_none_match is not None:
            if _etag_matches(self.if_none_match, etag):
                if for_read:
                    raise _not_modified(etag, modified)
                raise errors.PreconditionFailed()
        elif (since := http_date(self.if_modified_since)) is not None and modified <= since:
            if for_read:
                raise _not_modified(etag, modified)
            raise errors.PreconditionFailed()


def _not_modified(etag: str, modified: datetime) -> errors.NotModified:
    return errors.NotModified(headers=(("ETag", etag), ("Last-Modified", format_datetime(modified, usegmt=True))))
