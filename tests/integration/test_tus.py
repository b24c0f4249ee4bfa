"""TUS 1.0.0 resumable uploads (reference §2.5) over HTTP, on both backends: raw protocol
requests, the tuspy client, and the rules an upload shares with REST uploads."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.integration.tus_support import MiB, TusClient, blob, tuspy_uploader
from tests.rig import Server


@pytest.fixture
def tus(server: Server) -> TusClient:
    client = TusClient(server)
    yield client
    client.close()


def objects(server: Server, bucket: str) -> list[str]:
    return [r["name"] for r in server.sql("SELECT name FROM storage.objects WHERE bucket_id = $1", bucket)]


def test_options_advertises_the_protocol(server: Server) -> None:
    r = httpx.options(server.url + "upload/resumable")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Tus-Extension"] == "creation,creation-with-upload,creation-defer-length,termination,expiration"
    assert int(r.headers["Tus-Max-Size"]) > 0


def test_create_patch_head_delete(server: Server, tus: TusClient, http: httpx.Client, bucket: str) -> None:
    data = blob(7 * MiB + 123)
    r = tus.create(bucket, "a/raw.bin", len(data), contentType="application/x-test")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert url.startswith(server.url + "upload/resumable/")
    ident = url.rsplit("/", 1)[1]
    decoded = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    assert decoded.startswith(f"{bucket}/a/raw.bin/")
    assert "Upload-Expires" in r.headers
    h = tus.head(url)
    assert h.status_code == 200 and h.headers["Upload-Offset"] == "0" and h.headers["Upload-Length"] == str(len(data))
    assert h.headers["Cache-Control"] == "no-store"
    r = tus.patch(url, 0, data[:3 * MiB])
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(3 * MiB)
    assert objects(server, bucket) == []  # no row until the upload completes
    assert tus.head(url).headers["Upload-Offset"] == str(3 * MiB)
    r = tus.delete(url)
    assert r.status_code == 204
    r = tus.head(url)
    assert r.status_code == 404
    r = tus.patch(url, 3 * MiB, data[3 * MiB:])
    assert r.status_code == 404 and r.text == "Upload not found"
    assert r.headers["Content-Type"].startswith("text/plain")

    r = tus.create(bucket, "a/raw.bin", len(data), contentType="application/x-test", cacheControl=3600,
                   metadata='{"k": "v"}')
    url = r.headers["Location"]
    assert tus.patch(url, 0, data[:6 * MiB]).headers["Upload-Offset"] == str(6 * MiB)
    r = tus.patch(url, 6 * MiB, data[6 * MiB:])
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert r.headers.get("Tus-Complete") == "1"
    assert http.get(f"object/{bucket}/a/raw.bin").content == data
    info = http.get(f"object/info/{bucket}/a/raw.bin").json()
    assert info["content_type"] == "application/x-test" and info["cache_control"] == "max-age=3600"
    assert info["metadata"] == {"k": "v"} and info["size"] == len(data)
    h = tus.head(url)  # a finished upload still answers, for a client that missed the last response
    assert h.status_code == 200 and h.headers["Upload-Offset"] == str(len(data))
    assert tus.delete(url).status_code == 400  # finished uploads cannot be terminated


def test_creation_with_upload_and_empty_upload(server: Server, tus: TusClient, http: httpx.Client,
                                               bucket: str) -> None:
    data = blob(300_000)
    r = tus.create(bucket, "small.bin", len(data), body=data)
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert http.get(f"object/{bucket}/small.bin").content == data
    r = tus.create(bucket, "empty.bin", 0)
    assert r.status_code == 201, r.text
    assert http.get(f"object/{bucket}/empty.bin").content == b""


def test_tuspy_in_chunks_of_every_size(server: Server, http: httpx.Client, bucket: str) -> None:
    for chunk, size in ((6 * MiB, 13 * MiB + 5), (100 * 1024, 5 * MiB + 70_000), (2**40, 40 * MiB + 1)):
        data = blob(size)
        name = f"tuspy/{chunk}.bin"
        up = tuspy_uploader(server.url + "upload/resumable", server.service_token, data, chunk,
                            bucketName=bucket, objectName=name, contentType="application/octet-stream")
        up.upload()
        got = http.get(f"object/{bucket}/{name}")
        assert got.status_code == 200 and got.content == data, (chunk, size)
