"""Listing objects: the REST list v1 and list v2 queries, and `list_page`, the general
delimiter-aware engine the S3 protocol shares.

All listings run in user scope, so RLS SELECT policies decide which rows exist.
Prefixes are matched with range conditions (`name COLLATE "C" >= prefix AND < the
prefix's successor`), never LIKE, so the `(bucket_id, name COLLATE "C")` index serves
them; a common prefix is skipped with one indexed query instead of reading every row
under it, so listing the top level of a bucket with a million keys stays cheap.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import asyncpg

from s3proxy import errors
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.context import Ctx
from s3proxy.storage.listed import Listed, ListedKey, ListedRow, iso_sql

L = TypeVar("L", bound=Listed)

V1_SORT_COLUMNS = ("name", "updated_at", "created_at", "last_accessed_at")
V2_SORT_COLUMNS = ("name", "updated_at", "created_at")
V1_MAX_LIMIT = 1500
V2_MAX_LIMIT = 1000


def successor(text: str) -> str | None:
    """The smallest string greater than every string starting with `text` (in code-point
    order, which is UTF-8 byte order, which is COLLATE "C"); None if there is none."""
    chars = list(text)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:  # surrogates cannot be stored; jump over them
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


# --- the general engine -------------------------------------------------------------


@dataclass
class ListPage:
    """One page of a listing: objects and common prefixes, merged in key order in
    `entries`; `next_marker` is the last entry returned when the page is truncated."""

    objects: list[ListedKey] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    entries: list[ListedKey | str] = field(default_factory=list)
    is_truncated: bool = False
    next_marker: str | None = None


def _entry_name(entry: Listed | str) -> str:
    return entry if isinstance(entry, str) else entry.name


def is_common_prefix(marker: str, prefix: str, delimiter: str) -> bool:
    """Is `marker` a common prefix of this listing (so resuming must skip all of it)?"""
    if not marker.startswith(prefix) or not marker.endswith(delimiter):
        return False
    rest = marker[len(prefix):]
    return len(rest) >= len(delimiter) and rest.find(delimiter) == len(rest) - len(delimiter)


class _Scanner(Generic[L]):
    """Walks the index in key order (or reverse), collapsing common prefixes; objects
    come as `view` records."""

    def __init__(self, conn: asyncpg.Connection, view: type[L], bucket_id: str, prefix: str,
                 delimiter: str | None, descending: bool) -> None:
        self.conn = conn
        self.view = view
        self.bucket_id = bucket_id
        self.prefix = prefix
        self.delimiter = delimiter or None
        self.descending = descending
        self.low: str | None = prefix  # name >= low (or > when not low_inclusive)
        self.low_inclusive = True
        self.high: str | None = successor(prefix) if prefix else None  # name < high (or <=)
        self.high_inclusive = False

    def start_after(self, marker: str | None) -> None:
        if marker is None or marker == "":
            return
        if self.descending:  # "after" in descending order means smaller keys
            if self.high is None or marker < self.high:
                self.high, self.high_inclusive = marker, False
            return
        if marker < self.prefix:
            return
        if self.delimiter and is_common_prefix(marker, self.prefix, self.delimiter):
            self.low, self.low_inclusive = successor(marker), True
        else:
            self.low, self.low_inclusive = marker, False

    async def _fetch(self, limit: int) -> list[L]:
        args: list[Any] = [self.bucket_id]
        where = ["bucket_id = $1"]
        if self.low is not None:
            args.append(self.low)
            where.append(f'name COLLATE "C" {">=" if self.low_inclusive else ">"} ${len(args)}')
        if self.high is not None:
            args.append(self.high)
            where.append(f'name COLLATE "C" {"<=" if self.high_inclusive else "<"} ${len(args)}')
        args.append(limit)
        order = "DESC" if self.descending else "ASC"
        sql = (f"SELECT {self.view.COLUMNS} FROM storage.objects WHERE {' AND '.join(where)}"
               f' ORDER BY name COLLATE "C" {order} LIMIT ${len(args)}')
        return list(await self.conn.fetch(sql, *args, record_class=self.view))

    def _skip_prefix(self, common: str) -> bool:
        """Move the bound past every key under `common`; False when nothing can follow."""
        if self.descending:
            self.high, self.high_inclusive = common, False
            return True
        nxt = successor(common)
        if nxt is None:
            return False
        self.low, self.low_inclusive = nxt, True
        return True

    def _passed(self, name: str) -> None:
        if self.descending:
            self.high, self.high_inclusive = name, False
        else:
            self.low, self.low_inclusive = name, False

    def _no_delimiter_below_prefix(self, rows: list[L]) -> bool:
        """True when no row's name has the delimiter after the prefix, checked in C over
        the whole batch instead of row by row. Every name starts with the prefix, and a
        name holds exactly as many (non-overlapping) delimiters as the prefix does only
        when none starts after or straddles the prefix's end. Names are joined with NUL,
        which Postgres text cannot contain, so no match spans two names."""
        delimiter = self.delimiter or ""
        if not delimiter or "\x00" in delimiter:
            return False
        joined = "\x00".join([row.name for row in rows])
        return joined.count(delimiter) == len(rows) * self.prefix.count(delimiter)

    async def take(self, count: int) -> list[L | str]:
        """Up to `count` entries in order."""
        entries: list[L | str] = []
        if self.low is None or (self.high is not None and self.low > self.high):
            return entries
        if not self.delimiter:  # every row is an entry: no per-row work
            rows = await self._fetch(count)
            if rows:
                self._passed(rows[-1]["name"])
            return list(rows)
        current: str | None = None  # the common prefix whose keys are being skipped
        while len(entries) < count:
            batch = count - len(entries)
            rows = await self._fetch(batch)
            if rows and self._no_delimiter_below_prefix(rows):  # a leaf level: all objects
                entries.extend(rows)
                self._passed(rows[-1].name)
                if len(entries) >= count or len(rows) < batch:
                    return entries
                continue
            for row in rows:
                name: str = row["name"]
                if current is not None and name.startswith(current):
                    continue
                rest = name[len(self.prefix):]
                cut = rest.find(self.delimiter) if self.delimiter else -1
                if cut >= 0:
                    current = self.prefix + rest[: cut + len(self.delimiter or "")]
                    entries.append(current)
                    if not self._skip_prefix(current):
                        return entries
                else:
                    entries.append(row)
                    self._passed(name)
                if len(entries) >= count:
                    return entries
            if len(rows) < batch:
                return entries
        return entries


async def list_page(ctx: Ctx, bucket_id: str, *, prefix: str, delimiter: str | None, start_after: str | None,
                    max_keys: int, descending: bool = False) -> ListPage:
    """One page of keys under `prefix` after `start_after`, with keys that contain
    `delimiter` after the prefix rolled up into common prefixes (S3 semantics).

    Resuming from a common prefix (the `next_marker` of a previous page) skips all of
    it. NoSuchBucket when the bucket does not exist (looked up only when the page is
    empty: a listed key proves its bucket exists, and that saves a round trip)."""
    entries: list[ListedKey | str] = []
    if max_keys > 0:
        async with ctx.user() as conn:
            scanner = _Scanner(conn, ListedKey, bucket_id, prefix or "", delimiter, descending)
            scanner.start_after(start_after)
            entries = await scanner.take(max_keys + 1)
    if not entries:
        await find_bucket_as_service(ctx, bucket_id)
    page = ListPage(is_truncated=len(entries) > max_keys, entries=entries[:max_keys])
    if not delimiter:  # no common prefixes: every entry is an object
        page.objects = cast("list[ListedKey]", list(page.entries))
    else:
        for entry in page.entries:
            if isinstance(entry, str):
                page.common_prefixes.append(entry)
            else:
                page.objects.append(entry)
    if page.is_truncated and page.entries:
        page.next_marker = _entry_name(page.entries[-1])
    return page


# --- REST list v1 -------------------------------------------------------------------


@dataclass(frozen=True)
class V1Entry:
    """A row of list v1: a file (with id) or a folder (id None), named relative to the prefix."""

    name: str
    id: str | None
    updated_at: datetime | None
    created_at: datetime | None
    last_accessed_at: datetime | None
    metadata: dict[str, Any] | None


def _sort(column: str, order: str, columns: tuple[str, ...]) -> str:
    """The order, after checking the column and order are ones a listing sorts by."""
    order = order.lower()
    if column not in columns or order not in ("asc", "desc"):
        raise errors.InvalidArgument(f"Cannot sort by {column} {order}")
    return order


async def list_v1(ctx: Ctx, bucket_id: str, *, prefix: str, limit: int = 100, offset: int = 0,
                  search: str = "", sort_column: str = "name", sort_order: str = "asc") -> list[V1Entry]:
    """Folders then files one level below `prefix` (reference §2.3 list v1): `search` is a
    case-insensitive prefix of the entry name; folders sort by name, files by the column."""
    order = _sort(sort_column, sort_order, V1_SORT_COLUMNS)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    limit = max(0, min(limit, V1_MAX_LIMIT))
    async with ctx.user() as conn:
        low: str = await conn.fetchval("SELECT lower($1::text)", prefix + (search or ""))
        args: list[Any] = [bucket_id, low, len(prefix) + 1, limit, max(0, offset)]
        bound = ""
        high = successor(low) if low else None
        if high is not None:
            args.append(high)
            bound = f' AND lower(name) COLLATE "C" < ${len(args)}'
        column = "lower(name) COLLATE \"C\"" if sort_column == "name" else sort_column
        sql = (
            "WITH m AS (SELECT substr(name, $3) AS rel, id, updated_at, created_at, last_accessed_at, metadata"
            " FROM storage.objects WHERE bucket_id = $1 AND lower(name) COLLATE \"C\" >= $2" + bound + "),"
            " f AS (SELECT DISTINCT split_part(rel, '/', 1) AS rel FROM m WHERE strpos(rel, '/') > 0)"
            " SELECT name, id, updated_at, created_at, last_accessed_at, metadata FROM ("
            "  SELECT 0 AS kind, rel AS name, NULL::uuid AS id, NULL::timestamptz AS updated_at,"
            "   NULL::timestamptz AS created_at, NULL::timestamptz AS last_accessed_at, NULL::jsonb AS metadata"
            "  FROM f"
            "  UNION ALL"
            "  SELECT 1, rel, id, updated_at, created_at, last_accessed_at, metadata FROM m"
            "  WHERE strpos(rel, '/') = 0) e"
            f" ORDER BY kind, CASE WHEN kind = 0 THEN lower(name) COLLATE \"C\" END {order},"
            f" {column} {order}, lower(name) COLLATE \"C\" {order} LIMIT $4 OFFSET $5"
        )
        rows = await conn.fetch(sql, *args)
    return [
        V1Entry(name=r["name"], id=str(r["id"]) if r["id"] else None, updated_at=r["updated_at"],
                created_at=r["created_at"], last_accessed_at=r["last_accessed_at"], metadata=r["metadata"])
        for r in rows
    ]


# --- REST list v2 -------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a list v2 page ended; base64 of `l:`/`o:`/`c:`/`a:` lines (reference §2.3)."""

    last: str
    order: str = "asc"
    column: str = "name"
    after: str | None = None  # ISO timestamp of the sort column, for timestamp sorts

    def encode(self) -> str:
        lines = [f"l:{self.last}", f"o:{self.order}", f"c:{self.column}"]
        if self.after is not None:
            lines.append(f"a:{self.after}")
        return base64.b64encode("\n".join(lines).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.b64decode(text.encode(), validate=True).decode()
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise errors.InvalidParameter("Invalid Parameter cursor") from exc
        fields = {}
        for line in raw.split("\n"):
            if len(line) < 2 or line[1] != ":" or line[0] not in "loca":
                raise errors.InvalidParameter("Invalid Parameter cursor")
            fields[line[0]] = line[2:]
        if "l" not in fields:
            raise errors.InvalidParameter("Invalid Parameter cursor")
        order, column = fields.get("o", "asc"), fields.get("c", "name")
        if order not in ("asc", "desc") or column not in V2_SORT_COLUMNS:
            raise errors.InvalidParameter("Invalid Parameter cursor")
        return cls(last=fields["l"], order=order, column=column, after=fields.get("a"))


@dataclass
class V2Page:
    folders: list[tuple[str, str]] = field(default_factory=list)  # (key, name ending in "/")
    objects: list[tuple[ListedRow, str | None]] = field(default_factory=list)  # (row, key)
    has_next: bool = False
    next_cursor: str | None = None


async def list_v2(ctx: Ctx, bucket_id: str, *, prefix: str = "", limit: int = V2_MAX_LIMIT,
                  cursor: str | None = None, with_delimiter: bool = False, sort_column: str = "name",
                  sort_order: str = "asc") -> V2Page:
    """A cursor-paged listing (reference §2.3 list v2). With the delimiter, folders and
    objects of one level come merged in key order (sorted by name whatever the column)."""
    order = _sort(sort_column, sort_order, V2_SORT_COLUMNS)
    position = Cursor.decode(cursor) if cursor else None
    if position is not None:
        order, sort_column = position.order, position.column
    limit = max(1, min(limit, V2_MAX_LIMIT))
    if with_delimiter or sort_column == "name":
        return await _v2_by_name(ctx, bucket_id, prefix, limit, position, with_delimiter, order)
    return await _v2_by_time(ctx, bucket_id, prefix, limit, position, sort_column, order)


async def _v2_by_name(ctx: Ctx, bucket_id: str, prefix: str, limit: int, position: Cursor | None,
                      with_delimiter: bool, order: str) -> V2Page:
    async with ctx.user() as conn:
        scanner = _Scanner(conn, ListedRow, bucket_id, prefix, "/" if with_delimiter else None, order == "desc")
        scanner.start_after(position.last if position else None)
        entries = await scanner.take(limit + 1)
    page = V2Page(has_next=len(entries) > limit)
    entries = entries[:limit]
    for entry in entries:
        if isinstance(entry, str):
            page.folders.append((entry[len(prefix):].rstrip("/"), entry))
        else:
            page.objects.append((entry, entry.name[len(prefix):] if with_delimiter else None))
    if page.has_next and entries:
        page.next_cursor = Cursor(_entry_name(entries[-1]), order, "name").encode()
    return page


async def _v2_by_time(ctx: Ctx, bucket_id: str, prefix: str, limit: int, position: Cursor | None,
                      column: str, order: str) -> V2Page:
    args: list[Any] = [bucket_id, prefix, limit + 1]
    where = ['bucket_id = $1', 'name COLLATE "C" >= $2']
    high = successor(prefix) if prefix else None
    if high is not None:
        args.append(high)
        where.append(f'name COLLATE "C" < ${len(args)}')
    if position is not None and position.after:
        try:
            after = datetime.fromisoformat(position.after.replace("Z", "+00:00"))
        except ValueError as exc:
            raise errors.InvalidParameter("Invalid Parameter cursor") from exc
        args += [after, position.last]
        op = "<" if order == "desc" else ">"
        where.append(f'({column}, name COLLATE "C") {op} (${len(args) - 1}, ${len(args)})')
    direction = "DESC" if order == "desc" else "ASC"
    # the cursor keeps the sort column to the microsecond, or rows sharing a millisecond
    # would be skipped
    sql = (f"SELECT {ListedRow.COLUMNS}, {iso_sql(column, 'US')} AS cursor_after FROM storage.objects"
           f" WHERE {' AND '.join(where)} ORDER BY {column} {direction}, name COLLATE \"C\" {direction} LIMIT $3")
    async with ctx.user() as conn:
        rows = await conn.fetch(sql, *args, record_class=ListedRow)
    page = V2Page(has_next=len(rows) > limit, objects=[(r, None) for r in rows[:limit]])
    if page.has_next:
        last = rows[limit - 1]
        page.next_cursor = Cursor(last.name, order, column, last["cursor_after"]).encode()
    return page
