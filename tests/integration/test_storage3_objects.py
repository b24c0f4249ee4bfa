"""The storage3 (supabase-py) client's whole file API against the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from tests.rig import Server


@pytest.fixture
def client(server: Server) -> Iterator[SyncStorageClient]:
    tok = server.service_token
    with SyncStorageClient(server.url, {"Authorization": f"Bearer {tok}", "apikey": tok}) as storage:
        yield storage


def test_upload_update_download_info_exists(client: SyncStorageClient, bucket: str, tmp_path: Path) -> None:
    files = client.from_(bucket)
    res = files.upload("folder/hello.txt", b"hello", {"content-type": "text/plain", "metadata": {"x": "1"}})
    assert res.path == "folder/hello.txt" and res.full_path == f"{bucket}/folder/hello.txt"
    assert files.download("folder/hello.txt") == b"hello"
    with pytest.raises(StorageApiError) as err:
        files.upload("folder/hello.txt", b"again")
    assert str(err.value.status) == "409"
    files.upload("folder/hello.txt", b"upserted", {"upsert": "true"})
    assert files.download("folder/hello.txt") == b"upserted"
    source = tmp_path / "local.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    files.update("folder/hello.txt", source, {"content-type": "application/octet-stream", "cache-control": "10"})
    assert files.download("folder/hello.txt") == b"\x00\x01" * 1000
    info = files.info("folder/hello.txt")
    assert info["size"] == 2000 and info["cache_control"] == "max-age=10"
    assert info["content_type"] == "application/octet-stream"
    assert files.exists("folder/hello.txt") is True
    assert files.exists("folder/nothing.txt") is False
    with pytest.raises(StorageApiError):
        files.download("folder/nothing.txt")


def test_list_and_list_v2(client: SyncStorageClient, bucket: str) -> None:
    files = client.from_(bucket)
    for name in ("a/1.txt", "a/2.txt", "b.txt", "c.txt"):
        files.upload(name, name.encode())
    names = [x["name"] for x in files.list()]
    assert names == ["a", "b.txt", "c.txt"]
    assert [x["name"] for x in files.list("a")] == ["1.txt", "2.txt"]
    assert [x["name"] for x in files.list("", {"limit": 1, "offset": 1})] == ["b.txt"]
    assert [x["name"] for x in files.list("", {"search": "c"})] == ["c.txt"]
    page = files.list_v2({"limit": 2})
    assert page.hasNext and [o.name for o in page.objects] == ["a/1.txt", "a/2.txt"]
    page = files.list_v2({"limit": 2, "cursor": page.nextCursor or ""})
    assert not page.hasNext and [o.name for o in page.objects] == ["b.txt", "c.txt"]
    page = files.list_v2({"with_delimiter": True})
    assert [f.name for f in page.folders] == ["a/"] and [o.key for o in page.objects] == ["b.txt", "c.txt"]


def test_move_copy_remove(client: SyncStorageClient, bucket: str) -> None:
    files = client.from_(bucket)
    files.upload("src.txt", b"data")
    assert files.move("src.txt", "dst.txt") == {"message": "Successfully moved"}
    copied = files.copy("dst.txt", "copy.txt")
    assert copied["Key"] == f"{bucket}/copy.txt"
    assert files.download("copy.txt") == b"data"
    removed = files.remove(["dst.txt", "copy.txt", "missing.txt"])
    assert sorted(r["name"] for r in removed) == ["copy.txt", "dst.txt"]
    assert files.list() == []


def test_signed_urls(server: Server, client: SyncStorageClient, bucket: str) -> None:
    files = client.from_(bucket)
    files.upload("s p a c e.txt", b"signed")
    files.upload("two.txt", b"two")
    url = files.create_signed_url("s p a c e.txt", 60)["signedURL"]
    assert httpx.get(url).content == b"signed"
    url = files.create_signed_url("two.txt", 60, {"download": "named.txt"})["signedURL"]
    got = httpx.get(url)
    assert got.content == b"two" and "filename=named.txt" in got.headers["content-disposition"]
    urls = files.create_signed_urls(["two.txt", "nope.txt"], 60)
    assert httpx.get(urls[0]["signedURL"]).content == b"two"
    assert urls[1]["signedURL"] is None and urls[1]["error"]
    signed = files.create_signed_upload_url("up/loaded.txt")
    assert signed["token"] and signed["signed_url"].startswith(server.url)
    res = files.upload_to_signed_url("up/loaded.txt", signed["token"], b"by token", {"content-type": "text/x-t"})
    assert res.full_path == f"{bucket}/up/loaded.txt"
    assert files.download("up/loaded.txt") == b"by token"
    assert files.info("up/loaded.txt")["content_type"] == "text/x-t"


def test_public_url(server: Server, client: SyncStorageClient, unique: str) -> None:
    name = f"pub3-{unique}"
    client.create_bucket(name, options={"public": True})
    try:
        files = client.from_(name)
        files.upload("dir/pic.png", b"png", {"content-type": "image/png"})
        url = files.get_public_url("dir/pic.png")
        assert url == f"{server.url}object/public/{name}/dir/pic.png"
        got = httpx.get(url)
        assert got.content == b"png" and got.headers["content-type"] == "image/png"
        got = httpx.get(files.get_public_url("dir/pic.png", {"download": True}))
        assert got.headers["content-disposition"] == "attachment;"
    finally:
        client.empty_bucket(name)
        client.delete_bucket(name)
