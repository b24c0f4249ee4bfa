"""A full disk (here: a file-size limit on the server process, which fails writes with
EFBIG as ENOSPC would) answers 507 InsufficientStorage in the protocol's format and
leaves nothing behind: no row, no partial file, no temporary file (issue 15 §1c)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.s3_support import error_code, s3_client
from tests.rig import Postgres, Server

LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def small_disk(postgres: Postgres) -> Iterator[Server]:
    srv = Server(backend="file", database_url=postgres.new_database("s3proxy_disk"), file_size_limit=LIMIT)
    srv.start()
    yield srv
    srv.close()


def _files(server: Server) -> list[Path]:
    root = Path(server.workdir) / "files"
    return [p for p in root.rglob("*") if p.is_file()]


def test_uploads_past_the_space_left_are_insufficient_storage(small_disk: Server) -> None:
    server = small_disk
    auth = server.headers()
    assert httpx.post(server.url + "bucket", json={"name": "disk"}, headers=auth).status_code == 200
    assert httpx.post(server.url + "object/disk/small", content=b"s" * 1024, headers=auth).status_code == 200
    before = _files(server)

    r = httpx.post(server.url + "object/disk/big", content=b"b" * (2 * LIMIT), headers=auth, timeout=60)
    assert r.status_code == 507, r.text
    assert r.json() == {"statusCode": "507", "error": "InsufficientStorage",
                        "message": "There is not enough space left to store the object",
                        "code": "InsufficientStorage"}

    s3 = s3_client(server)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="disk", Key="big-s3", Body=b"b" * (2 * LIMIT))
    assert error_code(caught.value) == ("InsufficientStorage", 507)

    # nothing half-written: no rows, no new files (the temporary ones are gone too)
    rows = server.sql("SELECT name FROM storage.objects WHERE bucket_id = 'disk' ORDER BY name")
    assert [r["name"] for r in rows] == ["small"]
    assert sorted(_files(server)) == sorted(before)
    # and the server still serves
    assert httpx.get(server.url + "object/disk/small", headers=auth).content == b"s" * 1024
    assert "Traceback" not in server.log_tail(200)
