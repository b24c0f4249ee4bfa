"""The delimiter listing engine against a brute-force model, and its query count: one
indexed query per common prefix, not one row read per key."""

from __future__ import annotations

import asyncio
import bisect
import random
from typing import Any

from s3proxy.storage.listed import Listed
from s3proxy.storage.listing import _Scanner, successor


class Row(dict[str, str]):
    """Stands in for a Listed record: the engine reads `row["name"]`."""

    @property
    def name(self) -> str:
        return self["name"]


class CountingScanner(_Scanner[Any]):
    """_Scanner over a sorted in-memory key list instead of Postgres."""

    def __init__(self, keys: list[str], prefix: str, delimiter: str | None, descending: bool) -> None:
        super().__init__(None, Listed, "b", prefix, delimiter, descending)  # type: ignore[arg-type]
        self.keys = sorted(keys)
        self.queries = 0

    async def _fetch(self, limit: int) -> list[Any]:
        self.queries += 1
        lo = 0
        if self.low is not None:
            lo = (bisect.bisect_left if self.low_inclusive else bisect.bisect_right)(self.keys, self.low)
        hi = len(self.keys)
        if self.high is not None:
            hi = (bisect.bisect_right if self.high_inclusive else bisect.bisect_left)(self.keys, self.high)
        chosen = self.keys[lo:hi]
        chosen = chosen[::-1][:limit] if self.descending else chosen[:limit]
        return [Row(name=k) for k in chosen]  # type: ignore[misc]


def model(keys: list[str], prefix: str, delimiter: str | None, start_after: str | None,
          descending: bool) -> list[str]:
    """S3 semantics, the slow obvious way."""
    out: list[str] = []
    for key in sorted(set(keys), reverse=descending):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        entry = key
        if delimiter and delimiter in rest:
            entry = prefix + rest[: rest.index(delimiter) + len(delimiter)]
        if out and out[-1] == entry:
            continue
        out.append(entry)
    if start_after:
        if descending:
            out = [e for e in out if e < start_after]
        elif delimiter and start_after in out and delimiter in start_after[len(prefix):]:
            out = [e for e in out if e > start_after and not e.startswith(start_after)]
        else:
            out = [e for e in out if e > start_after]
    return out


def names(entries: list[Any]) -> list[str]:
    return [e if isinstance(e, str) else e.name for e in entries]


def run(keys: list[str], prefix: str, delimiter: str | None, start_after: str | None, count: int,
        descending: bool = False) -> tuple[list[str], int]:
    scanner = CountingScanner(keys, prefix, delimiter, descending)
    scanner.start_after(start_after)
    return names(asyncio.run(scanner.take(count))), scanner.queries


def test_matches_model_on_random_trees() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", "/", "é", "z", "-"]
    keys = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(400)})
    for _ in range(400):
        prefix = rng.choice(["", "a", "a/", "b/", "é", "z/a"])
        delimiter = rng.choice([None, "/", "a/"])
        descending = rng.random() < 0.3
        expected_all = model(keys, prefix, delimiter, None, descending)
        start = rng.choice([None, *expected_all[:5]]) if expected_all else None
        count = rng.randint(1, 20)
        expected = model(keys, prefix, delimiter, start, descending)[:count]
        got, _ = run(keys, prefix, delimiter, start, count, descending)
        assert got == expected, (prefix, delimiter, start, count, descending)


def test_paging_by_last_entry_visits_everything_once() -> None:
    keys = [f"d{i % 7}/{i}" for i in range(300)] + [f"top{i}" for i in range(20)]
    for descending in (False, True):
        expected = model(keys, "", "/", None, descending)
        seen: list[str] = []
        marker = None
        while True:
            page, _ = run(keys, "", "/", marker, 3, descending)
            if not page:
                break
            seen += page
            marker = page[-1]
        assert seen == expected


def test_one_query_per_common_prefix() -> None:
    keys = [f"folder{f:02d}/{i:06d}" for f in range(20) for i in range(5000)] + ["loose.txt"]
    got, queries = run(keys, "", "/", None, 1000)
    assert got == [f"folder{f:02d}/" for f in range(20)] + ["loose.txt"]
    assert queries <= 22  # 100,001 keys, 21 entries


def test_successor() -> None:
    assert successor("a/") == "a0"
    assert successor("") is None
    assert successor("a\U0010ffff") == "b"
    assert successor("\ud7ff") == "\ue000"


def test_batch_delimiter_check_never_misses_a_delimiter_below_the_prefix() -> None:
    """The whole-batch check may only say "no delimiter below the prefix" when that holds
    row by row (then the rows skip the per-row loop); for one-character delimiters, which
    cannot straddle the prefix's end, it must also say so whenever it holds."""
    rng = random.Random(11)
    for _ in range(5000):
        prefix = "".join(rng.choice("ab/") for _ in range(rng.randint(0, 4)))
        delimiter = rng.choice(["/", "a", "aa", "aba", "a/", "//", "ab"])
        rows = [Row(name=prefix + "".join(rng.choice("ab/") for _ in range(rng.randint(0, 5))))
                for _ in range(rng.randint(1, 4))]
        scanner = CountingScanner([], prefix, delimiter, False)
        below = any(delimiter in row.name[len(prefix):] for row in rows)
        says_none = scanner._no_delimiter_below_prefix(rows)  # type: ignore[arg-type]
        if says_none:
            assert not below, (prefix, delimiter, [r.name for r in rows])
        if len(delimiter) == 1:
            assert says_none == (not below)


def test_multi_character_delimiters_match_the_model() -> None:
    rng = random.Random(5)
    keys = sorted({"".join(rng.choice("ab/") for _ in range(rng.randint(1, 7))) for _ in range(300)})
    for _ in range(300):
        prefix = rng.choice(["", "a", "ab", "a/", "b"])
        delimiter = rng.choice(["aa", "ab", "a/", "//", "aba"])
        count = rng.randint(1, 30)
        got, _ = run(keys, prefix, delimiter, None, count)
        assert got == model(keys, prefix, delimiter, None, False)[:count], (prefix, delimiter, count)
