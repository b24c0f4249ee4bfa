"""TUS 1.0.0 resumable uploads (reference §2.5) over HTTP, on both backends: raw protocol
requests, the tuspy client, and the rules an upload shares with REST uploads."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.tus_support import (
    OFFSET_TYPE,
    RLS_DENIED,
    TUS,
    MiB,
    TusClient,
    blob,
    metadata,
    raw_patch_cut,
    tuspy_uploader,
)
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


def test_deferred_length(server: Server, tus: TusClient, http: httpx.Client, bucket: str) -> None:
    data = blob(9 * MiB + 17)
    r = tus.create(bucket, "deferred.bin", None)
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    h = tus.head(url)
    assert h.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in h.headers
    assert tus.patch(url, 0, data[:1000]).headers["Upload-Offset"] == "1000"  # a segment
    assert tus.patch(url, 1000, data[1000:6 * MiB]).headers["Upload-Offset"] == str(6 * MiB)  # folded into a part
    r = tus.patch(url, 6 * MiB, data[6 * MiB:], **{"Upload-Length": str(len(data))})
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert http.get(f"object/{bucket}/deferred.bin").content == data
    # a length given with nothing more to send completes at once
    url = tus.create(bucket, "deferred2.bin", None).headers["Location"]
    assert tus.patch(url, 0, data[:5000]).status_code == 204
    assert tus.patch(url, 5000, b"", **{"Upload-Length": "5000"}).status_code == 204
    assert http.get(f"object/{bucket}/deferred2.bin").content == data[:5000]


def test_wrong_offset_and_bad_requests(server: Server, tus: TusClient, bucket: str) -> None:
    url = tus.create(bucket, "off.bin", 100).headers["Location"]
    assert tus.patch(url, 0, b"x" * 10).status_code == 204
    r = tus.patch(url, 5, b"y" * 10)
    assert (r.status_code, r.text) == (409, "Upload-Offset conflict")
    assert tus.head(url).headers["Upload-Offset"] == "10"
    r = tus.patch(url, 10, b"y" * 91)
    assert r.status_code == 413  # past Upload-Length
    r = tus.http.patch(url, headers={"Upload-Offset": "10", "Content-Type": "text/plain"}, content=b"z")
    assert r.status_code == 415
    r = tus.http.patch(url, headers={"Content-Type": OFFSET_TYPE}, content=b"z")
    assert r.status_code == 400
    r = tus.http.patch(url, headers={"Upload-Offset": "10", "Content-Type": OFFSET_TYPE, "Tus-Resumable": "0.2.2"},
                       content=b"z")
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    for bad in ("AAAA", "not-base64!", base64.urlsafe_b64encode(f"{bucket}/x/notauuid".encode()).decode()):
        assert tus.head(server.url + "upload/resumable/" + bad).status_code == 404
    r = tus.http.post(server.url + "upload/resumable", headers={"Upload-Length": "5",
                                                               "Upload-Metadata": "bucketName !!!"})
    assert r.status_code == 400 and r.text == "Upload-Metadata is invalid"
    r = tus.create(bucket, "nolength.bin", 5, headers={"Upload-Length": "-1"})
    assert r.status_code == 400
    r = tus.create("no-such-bucket-here", "x.bin", 5)
    assert (r.status_code, r.text) == (404, "Bucket not found")
    # before TUS, authentication failures answer as REST does (JSON)
    r = httpx.post(server.url + "upload/resumable", headers={**TUS, "Upload-Length": "5"})
    assert r.status_code == 400 and r.json()["statusCode"] == "400"
    r = httpx.post(server.url + "upload/resumable", headers={**TUS, "Upload-Length": "5",
                                                              "Authorization": "Bearer nope"})
    assert r.status_code == 400 and r.json() == {**r.json(), "statusCode": "403", "code": "AccessDenied"}


def test_limits_mime_types_and_upsert(server: Server, tus: TusClient, http: httpx.Client) -> None:
    name = f"lim-{uuid.uuid4().hex[:8]}"
    assert http.post("bucket", json={"name": name, "file_size_limit": 1024 * 1024,
                                     "allowed_mime_types": ["image/*"]}).status_code == 200
    try:
        r = tus.create(name, "big.png", 2 * MiB, contentType="image/png")
        assert (r.status_code, r.text) == (413, "Maximum size exceeded")
        r = tus.create(name, "doc.txt", 10, contentType="text/plain")
        assert r.status_code == 415
        url = tus.create(name, "deferred.png", None, contentType="image/png").headers["Location"]
        r = tus.patch(url, 0, blob(MiB + 1))
        assert (r.status_code, r.text) == (413, "Maximum size exceeded")
        assert tus.head(url).headers["Upload-Offset"] == "0"
        assert tus.create(name, "ok.png", 10, body=b"0123456789", contentType="image/png").status_code == 201
        r = tus.create(name, "ok.png", 3, body=b"abc", contentType="image/png")
        assert r.status_code == 409  # exists, and no x-upsert
        r = tus.create(name, "ok.png", 3, body=b"abc", contentType="image/png", upsert=True)
        assert r.status_code == 201
        assert http.get(f"object/{name}/ok.png").content == b"abc"
    finally:
        http.post(f"bucket/{name}/empty", json={})
        http.delete(f"bucket/{name}")


def test_rls_decides_like_a_rest_upload(server: Server, bucket: str, http: httpx.Client) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    folder = f"bucket_id = '{bucket}' AND (storage.foldername(name))[1] = (auth.jwt() ->> 'sub')"
    server.sql(f'CREATE POLICY "{tag}_i" ON storage.objects FOR INSERT TO authenticated WITH CHECK ({folder})')
    server.sql(f'CREATE POLICY "{tag}_s" ON storage.objects FOR SELECT TO authenticated USING ({folder})')
    alice, bob = (TusClient(server, server.token("authenticated", sub=s)) for s in ("alice", "bob"))
    try:
        r = alice.create(bucket, "bob/x.bin", 10)
        assert (r.status_code, r.text) == (403, RLS_DENIED)
        r = alice.create(bucket, "alice/x.bin", 10)
        assert r.status_code == 201, r.text
        url = r.headers["Location"]
        assert bob.patch(url, 0, b"0123456789").status_code == 403  # not bob's upload
        assert alice.patch(url, 0, b"01234").status_code == 204
        server.sql(f'DROP POLICY "{tag}_i" ON storage.objects')  # the probe runs again on every PATCH
        r = alice.patch(url, 5, b"56789")
        assert (r.status_code, r.text) == (403, RLS_DENIED)
        assert alice.head(url).headers["Upload-Offset"] == "5"
        assert http.get(f"object/{bucket}/alice/x.bin").status_code == 400
    finally:
        server.sql(f'DROP POLICY IF EXISTS "{tag}_i" ON storage.objects')
        server.sql(f'DROP POLICY "{tag}_s" ON storage.objects')
        alice.close()
        bob.close()


def test_signed_upload_token(server: Server, tus: TusClient, http: httpx.Client, bucket: str) -> None:
    signed = http.post(f"object/upload/sign/{bucket}/signed/file.bin", headers=server.headers()).json()
    token = signed["token"]
    anon = httpx.Client(headers={**TUS, "x-signature": token}, timeout=60)
    data = blob(6 * MiB + 10)
    meta = metadata(bucketName=bucket, objectName="signed/file.bin", contentType="application/x-s")
    r = anon.post(server.url + "upload/resumable/sign", headers={"Upload-Length": str(len(data)),
                                                                 "Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert "/upload/resumable/sign/" in url
    r = anon.patch(url, headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}, content=data)
    assert r.status_code == 204, r.text
    assert http.get(f"object/{bucket}/signed/file.bin").content == data
    # the token names one object: another name, or no token, is refused before TUS (JSON)
    other = metadata(bucketName=bucket, objectName="signed/other.bin")
    r = anon.post(server.url + "upload/resumable/sign", headers={"Upload-Length": "1", "Upload-Metadata": other})
    assert r.status_code == 400 and r.json()["error"] == "InvalidSignature"
    r = httpx.post(server.url + "upload/resumable/sign", headers={**TUS, "Upload-Length": "1",
                                                                   "Upload-Metadata": meta})
    assert r.status_code == 400 and r.json()["error"] == "InvalidJWT"


def test_concurrent_patches_one_wins(server: Server, tus: TusClient, http: httpx.Client, bucket: str) -> None:
    data = blob(12 * MiB)
    url = tus.create(bucket, "race.bin", len(data)).headers["Location"]
    started = threading.Event()

    def slow() -> Iterator[bytes]:
        for i in range(0, len(data), MiB):
            yield data[i: i + MiB]
            started.set()
            time.sleep(0.15)

    first: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: first.update(r=tus.http.patch(
        url, headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE, "Content-Length": str(len(data))},
        content=slow())))
    thread.start()
    assert started.wait(30)
    time.sleep(0.3)
    other = TusClient(server)
    r = other.patch(url, 0, data)
    assert r.status_code in (409, 423), r.text
    thread.join(60)
    assert first["r"].status_code == 204, first["r"].text
    assert http.get(f"object/{bucket}/race.bin").content == data
    other.close()


def test_a_client_that_hangs_up_leaves_a_resumable_upload(server: Server, tus: TusClient, http: httpx.Client,
                                                          bucket: str) -> None:
    data = blob(40 * MiB)
    url = tus.create(bucket, "cut.bin", len(data)).headers["Location"]

    def committed() -> None:  # the first 16 MiB part lands while the client still sends
        deadline = time.monotonic() + 30
        while int(tus.head(url).headers["Upload-Offset"]) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)

    raw_patch_cut(url, 0, len(data), iter([data[i: i + MiB] for i in range(0, 20 * MiB, MiB)]),
                  server.service_token, committed)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the lease is released when the request has wound down
        offset = int(tus.head(url).headers["Upload-Offset"])
        r = tus.patch(url, offset, data[offset:])
        if r.status_code != 423:
            break
        time.sleep(0.2)
    assert 0 < offset < 20 * MiB and offset % MiB == 0  # the parts that were complete, nothing more
    assert r.status_code == 204, r.text
    assert http.get(f"object/{bucket}/cut.bin").content == data


def test_patch_bodies_without_a_content_length(server: Server, tus: TusClient, http: httpx.Client,
                                               bucket: str) -> None:
    """Chunked PATCH bodies: a part's worth is buffered at a time, the rest kept as a segment."""
    data = blob(12 * MiB + 99)

    def chunked(piece: bytes) -> Iterator[bytes]:
        for i in range(0, len(piece), 300_000):
            yield piece[i: i + 300_000]

    url = tus.create(bucket, "chunked.bin", None).headers["Location"]
    r = tus.http.patch(url, headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE},
                       content=chunked(data[:7 * MiB]))
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(7 * MiB)
    r = tus.http.patch(url, headers={"Upload-Offset": str(7 * MiB), "Content-Type": OFFSET_TYPE,
                                     "Upload-Length": str(len(data))}, content=chunked(data[7 * MiB:]))
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert http.get(f"object/{bucket}/chunked.bin").content == data
    url = tus.create(bucket, "chunked-over.bin", 10).headers["Location"]
    r = tus.http.patch(url, headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE},
                       content=chunked(b"x" * 11))
    assert r.status_code == 413


def test_policies_see_the_tus_operation_names(server: Server, bucket: str, http: httpx.Client) -> None:
    """RLS policies read storage.operation(): storage.tus.upload.create on creation,
    storage.tus.upload.part on PATCH (reference §5.5)."""
    tag = f"t{uuid.uuid4().hex[:8]}"
    check = (f"bucket_id = '{bucket}' AND storage.operation() IN "
             "('storage.tus.upload.create', 'storage.tus.upload.part')")
    server.sql(f'CREATE POLICY "{tag}" ON storage.objects FOR INSERT TO authenticated WITH CHECK ({check})')
    token = server.token("authenticated", sub="carol")
    carol = TusClient(server, token)
    try:
        r = httpx.post(server.url + f"object/{bucket}/rest.bin", content=b"x", headers=server.headers(token))
        assert r.json()["message"] == RLS_DENIED  # storage.object.upload is not allowed
        url = carol.create(bucket, "tus.bin", 4).headers["Location"]
        assert carol.patch(url, 0, b"abcd").status_code == 204
        assert http.get(f"object/{bucket}/tus.bin").content == b"abcd"
    finally:
        server.sql(f'DROP POLICY "{tag}" ON storage.objects')
        carol.close()


def test_method_override_for_clients_without_patch(server: Server, tus: TusClient, http: httpx.Client,
                                                   bucket: str) -> None:
    """tus-js-client's overridePatchMethod: POST with X-HTTP-Method-Override: PATCH / DELETE."""
    url = tus.create(bucket, "override.bin", 6).headers["Location"]
    r = tus.http.post(url, headers={"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                    "Content-Type": OFFSET_TYPE}, content=b"abc")
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "3"
    r = tus.http.post(url, headers={"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "3",
                                    "Content-Type": OFFSET_TYPE}, content=b"def")
    assert r.status_code == 204
    assert http.get(f"object/{bucket}/override.bin").content == b"abcdef"
    url = tus.create(bucket, "gone.bin", 6).headers["Location"]
    assert tus.http.post(url, headers={"X-HTTP-Method-Override": "DELETE"}).status_code == 204
    assert tus.head(url).status_code == 404
    assert tus.http.post(url, content=b"x").status_code == 405  # a plain POST to an upload is no request
