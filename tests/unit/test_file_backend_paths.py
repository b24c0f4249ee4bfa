"""The file backend maps any key to a file inside its root, one key to one file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s3proxy.backends.file import FileBackend

HOSTILE = [
    "..", ".", "", "/", "../x", "../../etc/passwd", "a/../../x", "a/b/../../../x", "/abs/path", "//double",
    "a/./b", "a//b", "trailing/", "\x00", "a\x00b", "\x00/../x", "%2e%2e", "%2e%2e/%2e%2e/x", "%2E%2E/x",
    "..%2f..%2fx", "..%2F..%2Fx", "%252e%252e", "\\..\\x", "..\\..\\x", "C:\\x", "~", "~/x", "$HOME/x",
    ".tmp/x", ".multipart/0123456789abcdef0123456789abcdef/00001", "x" * 5000, "/".join(["y" * 300] * 10),
    "é" * 600, "%" * 1024, "日本/語" * 50, "a b+c", "con/prn/aux/nul",
]


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _read(backend: FileBackend, key: str) -> bytes:
    async def go() -> bytes:
        stream = await backend.get(key)
        return b"".join([chunk async for chunk in stream.chunks])

    return asyncio.run(go())


def _write(backend: FileBackend, key: str, data: bytes) -> None:
    asyncio.run(backend.put(key, _body(data), size=len(data), content_type="", cache_control=""))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.mark.parametrize("key", HOSTILE)
def test_path_stays_inside_root(root: Path, key: str) -> None:
    backend = FileBackend(root)
    path = backend.path_of(key)
    real = Path(os.path.realpath(path))
    assert backend.root in real.parents
    assert backend.root in path.parents
    relative = path.relative_to(backend.root)
    assert ".." not in relative.parts and "." not in relative.parts
    assert all(len(part.encode()) <= 255 and "\x00" not in part for part in relative.parts)
    assert relative.parts[0] not in (".tmp", ".multipart")  # never inside the backend's own folders


@pytest.mark.parametrize("key", HOSTILE)
def test_round_trip_writes_only_under_root(tmp_path: Path, root: Path, key: str) -> None:
    backend = FileBackend(root)
    _write(backend, key, key.encode(errors="surrogatepass"))
    assert _read(backend, key) == key.encode(errors="surrogatepass")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files == [backend.path_of(key)]
    asyncio.run(backend.delete([key]))
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_distinct_keys_map_to_distinct_files(root: Path) -> None:
    keys = HOSTILE + [
        "a/b", "a%2Fb", "a%2fb", "a%252Fb", "a b", "a%20b", "a+b", "%2e", "%2E", ".%2e", "...", "....",
        ".hidden", "%2Ehidden", "%252Ehidden", "a", "a/", "a//", "/a", "A", "tmp/x", "%2Etmp/x",
        "x" * 4999 + "a", "x" * 4999 + "b", "x" * 199, "x" * 200, "x" * 201, "x" * 134 + "%~",
    ]
    backend = FileBackend(root)
    paths = {key: backend.path_of(key) for key in keys}
    assert len(set(paths.values())) == len(paths)


def test_distinct_keys_hold_distinct_bytes(root: Path) -> None:
    backend = FileBackend(root)
    keys = ["a%2Fb", "a/b/c", "..%2fx", "%2e%2e/x", ".tmp/x", "x" * 5000, "x" * 4999 + "y"]
    for i, key in enumerate(keys):
        _write(backend, key, str(i).encode())
    for i, key in enumerate(keys):
        assert _read(backend, key) == str(i).encode()


def test_dot_keys_cannot_touch_the_backend_folders(root: Path) -> None:
    backend = FileBackend(root)
    upload = asyncio.run(backend.create_multipart("k", content_type="", cache_control=""))
    part = asyncio.run(backend.upload_part("k", upload, 1, _body(b"part"), size=4))
    for key in (".tmp/x", f".multipart/{upload}/00001"):
        _write(backend, key, b"intruder")
        asyncio.run(backend.delete([key]))  # pruning empty folders must not remove .tmp
    asyncio.run(backend.complete_multipart("k", upload, [part]))
    assert _read(backend, "k") == b"part"
    _write(backend, "after", b"still works")
    assert _read(backend, "after") == b"still works"


def test_listing_gives_back_every_key_or_says_it_cannot(tmp_path: Path) -> None:
    """sweep compares listed keys with rows: a listed key must be exactly the key written,
    or None (a name shortened with a digest), never another key."""
    backend = FileBackend(tmp_path)
    keys = [f"t/b/{k}/v1" for k in HOSTILE if "\x00" not in k]

    async def go() -> list[tuple[str | None, str]]:
        for key in keys:
            await backend.put(key, _body(b"x"), size=1, content_type="", cache_control="")
        (tmp_path / ".tmp" / "left-by-a-kill").write_bytes(b"partial")
        listed = [(b.key, b.name) async for b in backend.list_blobs("t/")]
        scratch = [b async for b in backend.list_scratch()]
        assert [b.name for b in scratch] == [".tmp/left-by-a-kill"]
        await backend.delete_stored(scratch + [b async for b in backend.list_blobs("t/b/a b+c/")])
        return listed

    listed = asyncio.run(go())
    decoded = {key for key, _ in listed if key is not None}
    assert decoded <= set(keys)
    assert len(listed) == len(set(keys))
    assert sum(key is None for key, _ in listed) == len(set(keys)) - len(decoded) > 0  # the long ones
    assert not (tmp_path / ".tmp" / "left-by-a-kill").exists()
    assert not backend.path_of("t/b/a b+c/v1").exists() and backend.path_of("t/b/~/v1").exists()
