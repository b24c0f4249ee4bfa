"""Listing scenarios: a 1,000-key page out of a bucket of 1,000,000 objects.

The rows are seeded straight into `storage.objects` as the database superuser with one
`INSERT ... SELECT generate_series` (metadata jsonb built in SQL), which takes seconds
rather than the hours a million uploads would. Only the rows exist (no bytes), which is
all a listing reads. Keys are `dNNNN/fNNNN`: 1,000 folders of 1,000 files, so a page
with prefix `dNNNN/` (with or without delimiter) has exactly 1,000 keys, and the load
rotates through 100 such pages spread over the bucket.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.scenarios import Context, LoadFactory, RateScenario, ScenarioError, rest_path
from bench.targets import Target
from bench.wrk import Load, origin, write_lines

BUCKET = "bench-list"
PAGE = 1000

SEED_SQL = """
INSERT INTO storage.buckets (id, name) VALUES ('{bucket}', '{bucket}') ON CONFLICT (id) DO NOTHING;
INSERT INTO storage.objects (bucket_id, name, version, metadata)
SELECT '{bucket}',
       'd' || lpad((i / 1000)::text, 4, '0') || '/f' || lpad((i % 1000)::text, 4, '0'),
       md5(i::text),
       jsonb_build_object('eTag', '"' || md5(i::text) || '"', 'size', 1024, 'contentLength', 1024,
                          'mimetype', 'application/octet-stream', 'cacheControl', 'no-cache',
                          'lastModified', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                          'httpStatusCode', 200)
FROM generate_series({start}, {stop}) AS i
ON CONFLICT DO NOTHING;
ANALYZE storage.objects;
"""

SEEDING_METHOD = (
    "rows seeded directly into storage.objects as the database superuser: one "
    "INSERT ... SELECT FROM generate_series(0, N-1) with keys dNNNN/fNNNN and metadata "
    "built by jsonb_build_object (no bytes uploaded; listing reads rows only), then ANALYZE"
)

seeded: dict[str, dict[str, Any]] = {}  # target name -> {rows, seconds, method}
_seed_lock = threading.Lock()


def seed(target: Target, rows: int) -> dict[str, Any]:
    """Make sure the listing bucket holds `rows` objects; once per target and run."""
    with _seed_lock:
        return seeded[target.name] if target.name in seeded else _seed(target, rows)


def _seed(target: Target, rows: int) -> dict[str, Any]:
    if not target.database_url:
        raise ScenarioError("listing needs superuser database access to seed rows (--database-url)")
    from tests.rig import run_sql

    started = time.monotonic()
    count = run_sql(target.database_url,
                    f"SELECT count(*) AS n FROM storage.objects WHERE bucket_id = '{BUCKET}'")[0]["n"]
    if count < rows:
        run_sql(target.database_url, SEED_SQL.format(bucket=BUCKET, start=0, stop=rows - 1))
    info = {"rows": rows, "existing_before": count, "seconds": round(time.monotonic() - started, 2),
            "method": SEEDING_METHOD}
    seeded[target.name] = info
    return info


def _prefixes(rows: int, pages: int = 100) -> list[str]:
    folders = max(1, rows // PAGE)
    picks = sorted({i * folders // pages for i in range(min(pages, folders))})
    return [f"d{n:04d}/" for n in picks]


def _count_rest(resp: httpx.Response) -> int:
    body = resp.json()
    return len(body.get("objects") or []) + len(body.get("folders") or [])


def _count_s3(resp: httpx.Response) -> int:
    return len(re.findall(r"<Key>", resp.text)) + len(re.findall(r"<CommonPrefixes>", resp.text))


def _check_probe(resp: httpx.Response, what: str, count: Callable[[httpx.Response], int]) -> None:
    """The first page of the load must be a full page, or the figures mean nothing."""
    if resp.status_code >= 300:
        raise ScenarioError(f"{what} probe: HTTP {resp.status_code} {resp.text[:200]!r}")
    if count(resp) != PAGE:
        raise ScenarioError(f"{what} probe returned {count(resp)} entries, not {PAGE}")


def _rest_list(target: Target, ctx: Context, delimiter: bool) -> LoadFactory:
    seed(target, ctx.listing_rows)
    path = rest_path(target, f"object/list-v2/{BUCKET}")
    lines = [("POST", path, json.dumps({"prefix": p, "limit": PAGE, "with_delimiter": delimiter}))
             for p in _prefixes(ctx.listing_rows)]
    headers = {**target.rest_headers(), "Content-Type": "application/json"}
    base = origin(target.rest_url or "")
    with httpx.Client(timeout=60) as client:
        _check_probe(client.post(base + path, content=lines[0][2], headers=headers), "REST list-v2", _count_rest)
    name = "rest_list_delim" if delimiter else "rest_list"
    source = write_lines(ctx.workdir / f"{target.name}-{name}.lines", list(lines))
    load = Load(base_url=base, mode="lines", source=source, headers=headers)
    return lambda: load


def _s3_list(target: Target, ctx: Context, delimiter: bool) -> LoadFactory:
    seed(target, ctx.listing_rows)
    listing = dataclasses.replace(target, bucket=BUCKET)
    lines: list[tuple[str, str]] = []
    for prefix in _prefixes(ctx.listing_rows):
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": PAGE}
        if delimiter:
            params["Delimiter"] = "/"
        parts = urlsplit(listing.presigned("list_objects_v2", **params))
        lines.append(("GET", f"{parts.path}?{parts.query}"))
    base = origin(target.s3_url or "")
    with httpx.Client(timeout=60) as client:
        _check_probe(client.get(base + lines[0][1]), "S3 ListObjectsV2", _count_s3)
    name = "s3_list_delim" if delimiter else "s3_list"
    source = write_lines(ctx.workdir / f"{target.name}-{name}.lines", list(lines))
    load = Load(base_url=base, mode="lines", source=source)
    return lambda: load


def rest_list(target: Target, ctx: Context) -> LoadFactory:
    """POST /object/list-v2/{bucket} {prefix, limit: 1000}: a 1,000-key page."""
    return _rest_list(target, ctx, delimiter=False)


def rest_list_delim(target: Target, ctx: Context) -> LoadFactory:
    """POST /object/list-v2/{bucket} {prefix, limit: 1000, with_delimiter: true}."""
    return _rest_list(target, ctx, delimiter=True)


def s3_list(target: Target, ctx: Context) -> LoadFactory:
    """ListObjectsV2 prefix=dNNNN/ max-keys=1000 (presigned)."""
    return _s3_list(target, ctx, delimiter=False)


def s3_list_delim(target: Target, ctx: Context) -> LoadFactory:
    """ListObjectsV2 prefix=dNNNN/ delimiter=/ max-keys=1000 (presigned)."""
    return _s3_list(target, ctx, delimiter=True)


LISTING_SCENARIOS: list[RateScenario] = [
    RateScenario("rest_list", "rest", rest_list, "", "REST list-v2, 1,000-key page"),
    RateScenario("rest_list_delim", "rest", rest_list_delim, "", "REST list-v2 + delimiter, 1,000-key page"),
    RateScenario("s3_list", "s3", s3_list, "", "S3 ListObjectsV2, 1,000-key page"),
    RateScenario("s3_list_delim", "s3", s3_list_delim, "", "S3 ListObjectsV2 + delimiter, 1,000-key page"),
]
