"""What a listing returns: one row per listed key, read in place.

A page holds up to a thousand keys and both protocols only copy a few fields of each
into their output, so the listing query has Postgres do the formatting (timestamps
as timefmt's ISO text, size and ETag as text, metadata as JSON text: several times
cheaper per value than `datetime.isoformat` and `json.loads`/`dumps` in Python) and
asyncpg builds these record classes directly (`record_class=`), which the protocols
read through the fields below without copying them into other objects. Each view
selects only what its protocol writes: `ListedKey` for S3, `ListedRow` for REST.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, ClassVar

import asyncpg

from s3proxy.storage import metadata as meta


def iso_sql(column: str, fraction: str = "MS") -> str:
    """SQL for `column` as timefmt's text (milliseconds) or, with fraction="US",
    microseconds (for cursors, which must not lose precision)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.{fraction}"Z"')"""


class Listed(asyncpg.Record):
    """A listed object; `COLUMNS` is what the listing query selects for it."""

    COLUMNS: ClassVar[str] = "name"

    # Fields are read through C-level itemgetters (a page reads thousands of them);
    # mypy sees the plain annotations.
    if TYPE_CHECKING:
        name: str
    else:
        name = property(itemgetter("name"))


class ListedKey(Listed):
    """What S3 lists: key, ETag, size, last modified and owner."""

    COLUMNS = ", ".join([
        "name", "owner_id",
        f"""coalesce(metadata->>'{meta.ETAG}', '""') AS etag""",
        f"coalesce(metadata->>'{meta.SIZE}', metadata->>'{meta.CONTENT_LENGTH}', '0') AS size",
        f"{iso_sql('coalesce(updated_at, created_at, now())')} AS last_modified",
    ])

    if TYPE_CHECKING:
        owner_id: str | None
        etag: str
        size: str
        last_modified: str
    else:
        owner_id = property(itemgetter("owner_id"))
        etag = property(itemgetter("etag"))
        size = property(itemgetter("size"))
        last_modified = property(itemgetter("last_modified"))


class ListedRow(Listed):
    """What REST list v2 shows of a row: id, timestamps and the metadata, each already
    as its JSON value (a quoted string or null), so rendering a row only splices."""

    COLUMNS = ", ".join([
        "name", "id::text AS id",
        *(f"""coalesce('"' || {iso_sql(column)} || '"', 'null') AS {column}_json"""
          for column in ("updated_at", "created_at", "last_accessed_at")),
        "coalesce(metadata::text, 'null') AS metadata_json",
    ])

    if TYPE_CHECKING:
        id: str
        updated_at_json: str
        created_at_json: str
        last_accessed_at_json: str
        metadata_json: str
    else:
        id = property(itemgetter("id"))
        updated_at_json = property(itemgetter("updated_at_json"))
        created_at_json = property(itemgetter("created_at_json"))
        last_accessed_at_json = property(itemgetter("last_accessed_at_json"))
        metadata_json = property(itemgetter("metadata_json"))
