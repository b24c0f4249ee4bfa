"""Uploads and downloads stream with bounded memory, and metadata and bytes stay
consistent under client disconnects and concurrent writers."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.rig import TENANT, Server


def stored_versions(server: Server, bucket: str) -> list[str]:
    """Every blob the backend holds for the bucket."""
    if server.backend == "file":
        root = Path(server.workdir) / "files" / TENANT / bucket
        return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert server.upstream is not None
    client: Any = server.upstream.client()
    listed = client.list_objects_v2(Bucket=server.upstream.bucket, Prefix=f"{TENANT}/{bucket}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def temp_files(server: Server) -> list[Path]:
    tmp = Path(server.workdir) / "files" / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_disconnect_mid_upload_leaves_nothing(server: Server, http: httpx.Client, bucket: str) -> None:
    http.post(f"object/{bucket}/keep", content=b"k")  # an unrelated object that must survive
    host, port = "127.0.0.1", server.port
    head = (
        f"POST /object/{bucket}/half HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {server.service_token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {4 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(head + b"x" * (2 * 1024 * 1024))
        if server.backend == "file":
            assert wait_until(lambda: any(p.stat().st_size > 0 for p in temp_files(server)))
        else:
            time.sleep(0.3)
    assert wait_until(lambda: not temp_files(server) and len(stored_versions(server, bucket)) == 1)
    assert server.sql("SELECT name FROM storage.objects WHERE bucket_id = $1", bucket) == [{"name": "keep"}]
    assert len(stored_versions(server, bucket)) == 1


def test_concurrent_upserts_leave_one_version(server: Server, bucket: str) -> None:
    bodies = [bytes([i]) * (64 * 1024 + i) for i in range(10)]
    statuses: list[int] = []

    def put(body: bytes) -> None:
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as c:
            statuses.append(c.post(f"object/{bucket}/same", content=body, headers={"x-upsert": "true"}).status_code)

    threads = [threading.Thread(target=put, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10
    rows = server.sql("SELECT version, metadata->>'eTag' AS etag FROM storage.objects WHERE bucket_id = $1", bucket)
    assert len(rows) == 1
    data = httpx.get(server.url + f"object/{bucket}/same", headers=server.headers()).content
    assert data in bodies
    assert rows[0]["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    versions = stored_versions(server, bucket)
    assert len(versions) == 1 and versions[0].endswith(rows[0]["version"])


class Reader:
    """A file-like view of a generator, so httpx streams a form part without a length."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self.chunks, b"")


def peak_rss_kib(server: Server) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_upload_and_download_stream(server: Server, http: httpx.Client, bucket: str) -> None:
    size = 64 * 1024 * 1024
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB

    def body() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    expected = hashlib.md5()
    for chunk in body():
        expected.update(chunk)
    before = peak_rss_kib(server)
    r = http.post(f"object/{bucket}/big.bin", content=body(), headers={"content-length": str(size)})
    assert r.status_code == 200, r.text
    got = hashlib.md5()
    with http.stream("GET", f"object/{bucket}/big.bin") as resp:
        assert resp.headers["content-length"] == str(size)
        for chunk in resp.iter_bytes():
            got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()
    assert resp.headers["etag"] == f'"{expected.hexdigest()}"'
    grown_mib = (peak_rss_kib(server) - before) / 1024
    assert grown_mib < 40, f"server peak RSS grew by {grown_mib:.0f} MiB for a 64 MiB object"
    # chunked (no Content-Length) form upload of the same bytes
    r = http.post(f"object/{bucket}/big-form.bin", files={"file": ("big", Reader(body()), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert http.head(f"object/{bucket}/big-form.bin").headers["etag"] == f'"{expected.hexdigest()}"'
    if server.backend == "file":  # the s3 backend sends unknown-length bodies in 16 MiB parts, by design
        grown_mib = (peak_rss_kib(server) - before) / 1024
        assert grown_mib < 40, f"server peak RSS grew by {grown_mib:.0f} MiB for a 64 MiB form upload"


def test_client_leaving_mid_download_is_harmless(server: Server, http: httpx.Client, bucket: str) -> None:
    http.post(f"object/{bucket}/dl.bin", content=b"z" * (8 * 1024 * 1024))
    with httpx.Client(base_url=server.url, headers=server.headers()) as c, c.stream("GET", f"object/{bucket}/dl.bin") as r:
        next(r.iter_bytes())
    assert http.get(f"object/info/{bucket}/dl.bin").json()["size"] == 8 * 1024 * 1024


def test_empty_and_delete_bucket_remove_bytes(server: Server, http: httpx.Client, unique: str) -> None:
    name = f"gone-{unique}"
    http.post("bucket", json={"name": name})
    for i in range(3):
        http.post(f"object/{name}/f{i}", content=b"data")
    assert len(stored_versions(server, name)) == 3
    assert http.delete(f"bucket/{name}").json()["code"] == "ResourceNotEmpty"
    assert http.post(f"bucket/{name}/empty", json={}).status_code == 200
    assert stored_versions(server, name) == []
    assert http.delete(f"bucket/{name}").status_code == 200
    # overwrite and delete drop the replaced bytes too
    http.post("bucket", json={"name": name})
    http.post(f"object/{name}/k", content=b"1")
    http.put(f"object/{name}/k", content=b"2")
    assert len(stored_versions(server, name)) == 1
    http.delete(f"object/{name}/k")
    assert stored_versions(server, name) == []
    http.delete(f"bucket/{name}")
