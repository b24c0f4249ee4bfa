"""The one timestamp format both protocols write: ISO-8601 UTC with milliseconds,
`2024-01-01T00:00:00.000Z` (Supabase JSON, S3 XML). Listings format thousands of
these per page, so the common case (an aware UTC datetime, as asyncpg returns) takes
the fast path of `isoformat`."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(when: datetime) -> str:
    if when.tzinfo is not UTC and when.utcoffset() != UTC.utcoffset(None):
        when = when.astimezone(UTC)
    text = when.replace(tzinfo=None).isoformat(timespec="milliseconds")
    return text + "Z"
