"""The part-size rule of TUS uploads: at least 5 MiB, more when the bytes still to come
would not fit in the part numbers left (S3 allows 10,000)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from s3proxy.config import Settings
from s3proxy.storage.metadata import Describing
from s3proxy.storage.tus_pieces import MIN_PART, PieceWriter
from s3proxy.storage.tus_state import Piece, TusUpload

GiB = 1024**3


def writer(length: int | None, offset: int = 0, next_part: int = 0, held: int = 0, limit: int = 50 * GiB) -> Any:
    upload = TusUpload("v", "b", "n", None, False, length, offset, Describing(), None, None, None, next_part, 0,
                       datetime.now(UTC), None, True, datetime.now(UTC))
    backend = SimpleNamespace(etag_from_complete=lambda: True)
    ctx = SimpleNamespace(store=SimpleNamespace(backend=backend, data_key=lambda *a: "/".join(a)),
                          settings=Settings())
    segments = [Piece(offset - held, held, segment=1)] if held else []
    return PieceWriter(ctx, None, upload, segments, limit)  # type: ignore[arg-type]


def test_parts_are_5_mib_unless_the_upload_needs_larger_ones() -> None:
    assert writer(10 * GiB).floor() == MIN_PART
    big = writer(100 * GiB)
    assert big.floor() == -(-100 * GiB // 9_999)
    assert big.floor() * 9_999 >= 100 * GiB
    late = writer(100 * GiB, offset=90 * GiB, next_part=9_000)  # few numbers left: larger parts
    assert late.floor() * 999 >= 10 * GiB
    assert writer(None, limit=GiB).floor() == MIN_PART  # a deferred length is bounded by the limit
    assert writer(None).floor() == -(-50 * GiB // 9_999)  # 5.12 MiB under the default 50 GiB limit


def test_the_target_part_size_is_the_upstream_part_size_or_the_floor() -> None:
    assert writer(GiB).target() == Settings().s3_part_size
    assert writer(500 * GiB).target() == writer(500 * GiB).floor() > Settings().s3_part_size
