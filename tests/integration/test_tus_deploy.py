"""TUS uploads where deployments make them hard: two nodes sharing one upload, a
server restarted (or killed) mid-upload, a reverse proxy in front, and the expiry
sweep. Each test runs dedicated servers, on both backends."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3proxy.auth.principal import Principal
from s3proxy.config import settings_from_env
from s3proxy.rest.tus_wire import decode_id
from s3proxy.storage.context import Ctx
from s3proxy.storage.tus import TusSweep, sweep_tus_uploads
from s3proxy.worker import build_storage
from tests.integration.tus_support import OFFSET_TYPE, MiB, PrefixProxy, TusClient, blob, tuspy_uploader
from tests.integration.wire import BACKENDS, backend_upstream, own_server
from tests.rig import Postgres, Server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_bucket(server: Server, name: str = "tus") -> str:
    r = httpx.post(server.url + "bucket", json={"name": name}, headers=server.headers())
    assert r.status_code == 200, r.text
    return name


def download(server: Server, bucket: str, name: str) -> bytes:
    r = httpx.get(server.url + f"object/{bucket}/{name}", headers=server.headers(), timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def test_two_nodes_share_one_upload(backend: str, postgres: Postgres, request: pytest.FixtureRequest) -> None:
    """Node A creates, node B takes the next PATCH, A the one after: nothing lives in a
    process (same database and backend, two separate servers)."""
    upstream = backend_upstream(request, backend)
    with own_server(backend, postgres, upstream) as a:
        env = {"STORAGE_FILE_BACKEND_PATH": str(Path(a.workdir) / "files")} if backend == "file" else {}
        b = Server(backend=backend, database_url=a.database_url, upstream=upstream, extra_env=env)
        try:
            b.start()
            bucket = make_bucket(a)
            data = blob(13 * MiB + 3)
            ta, tb = TusClient(a), TusClient(b)
            url_a = ta.create(bucket, "shared.bin", len(data)).headers["Location"]
            url_b = url_a.replace(a.url, b.url)
            assert tb.patch(url_b, 0, data[:6 * MiB]).status_code == 204
            assert tb.patch(url_b, 6 * MiB, data[6 * MiB: 6 * MiB + 100]).status_code == 204  # a segment on B
            assert ta.head(url_a).headers["Upload-Offset"] == str(6 * MiB + 100)
            assert ta.patch(url_a, 6 * MiB + 100, data[6 * MiB + 100: 12 * MiB]).status_code == 204  # folded on A
            assert tb.patch(url_b, 12 * MiB, data[12 * MiB:]).status_code == 204
            assert download(a, bucket, "shared.bin") == data
        finally:
            b.close()


def test_resume_after_a_restart(backend: str, postgres: Postgres, request: pytest.FixtureRequest) -> None:
    """tuspy uploads half, the server stops and starts again, tuspy resumes the same URL."""
    with own_server(backend, postgres, backend_upstream(request, backend)) as srv:
        bucket = make_bucket(srv)
        data = blob(20 * MiB + 11)
        endpoint = srv.url + "upload/resumable"
        first = tuspy_uploader(endpoint, srv.service_token, data, 6 * MiB, bucketName=bucket,
                               objectName="restart.bin")
        first.upload(stop_at=12 * MiB)
        url = first.url
        srv.stop()
        srv.start()
        second = tuspy_uploader(endpoint, srv.service_token, data, 6 * MiB, url=url, bucketName=bucket,
                                objectName="restart.bin")
        assert second.offset == 12 * MiB
        second.upload()
        assert download(srv, bucket, "restart.bin") == data


def test_resume_after_a_crash_mid_patch(backend: str, postgres: Postgres, request: pytest.FixtureRequest) -> None:
    """SIGKILL while a PATCH streams: its lease lapses by itself, the parts it committed
    stay, and the client resumes from there once the server is back (a short lease, so
    that the wait for it to lapse stays short)."""
    env = {"TUS_LEASE_SECONDS": "4"}
    with own_server(backend, postgres, backend_upstream(request, backend), env=env) as srv:
        bucket = make_bucket(srv)
        data = blob(40 * MiB)
        tus = TusClient(srv)
        url = tus.create(bucket, "crash.bin", len(data)).headers["Location"]
        sent = threading.Event()

        def slow() -> Iterator[bytes]:
            for i in range(0, len(data), MiB):
                yield data[i: i + MiB]
                if i >= 20 * MiB:
                    sent.set()
                    time.sleep(0.5)

        def patch() -> None:
            try:
                tus.http.patch(url, headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE,
                                             "Content-Length": str(len(data))}, content=slow())
            except httpx.HTTPError:
                pass

        thread = threading.Thread(target=patch, daemon=True)
        thread.start()
        assert sent.wait(60)
        deadline = time.monotonic() + 30
        while int(tus.head(url).headers["Upload-Offset"]) == 0:  # until the first part is committed
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert srv.proc is not None
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
        srv.proc = None
        srv.start()
        thread.join(30)
        fresh = TusClient(srv)
        deadline = time.monotonic() + 60
        locked = 0
        while True:
            offset = int(fresh.head(url).headers["Upload-Offset"])
            r = fresh.patch(url, offset, data[offset:])
            if r.status_code != 423 or time.monotonic() > deadline:
                break
            locked += 1  # the dead request's lease, until it lapses
            time.sleep(1)
        assert r.status_code == 204, r.text
        assert locked <= 8  # 4 s of lease left at most, and one renewal's slack
        assert offset == 16 * MiB  # the first part was committed before the crash
        assert download(srv, bucket, "crash.bin") == data


def test_location_behind_a_reverse_proxy(backend: str, postgres: Postgres, request: pytest.FixtureRequest) -> None:
    """A gateway serves us under /storage/v1: with REQUEST_ALLOW_X_FORWARDED_PATH the
    Location points back through it, so tuspy's PATCHes do too."""
    env = {"REQUEST_ALLOW_X_FORWARDED_PATH": "true"}
    with own_server(backend, postgres, backend_upstream(request, backend), env=env) as srv:
        bucket = make_bucket(srv)
        proxy = PrefixProxy(srv.url)
        try:
            data = blob(7 * MiB)
            up = tuspy_uploader(proxy.url + "upload/resumable", srv.service_token, data, 6 * MiB,
                                bucketName=bucket, objectName="proxied.bin")
            up.upload()
            assert up.url.startswith(proxy.url + "upload/resumable/")
            assert [m for m, p in proxy.seen].count("PATCH") == 2
            assert all(p.startswith("/storage/v1/upload/resumable") for _, p in proxy.seen)
            assert download(srv, bucket, "proxied.bin") == data
            # the proxy's scheme is taken as given, never forced either way
            r = TusClient(srv).create(bucket, "x.bin", 1, headers={"X-Forwarded-Proto": "https",
                                                                    "X-Forwarded-Host": "files.example:8443"})
            assert r.headers["Location"].startswith("https://files.example:8443/upload/resumable/")
        finally:
            proxy.close()


def test_forwarded_headers_are_ignored_unless_allowed(server: Server, bucket: str) -> None:
    r = TusClient(server).create(bucket, "x.bin", 1, headers={"X-Forwarded-Proto": "https",
                                                              "X-Forwarded-Host": "evil.example",
                                                              "X-Forwarded-Prefix": "/p"})
    assert r.headers["Location"].startswith(server.url + "upload/resumable/")


def _sweep(server: Server, older_than: timedelta, dry_run: bool, monkeypatch: pytest.MonkeyPatch) -> TusSweep:
    """`sweep_tus_uploads` as `s3proxy sweep` runs it: outside the server, with its
    settings (and its upstream credentials, which botocore reads from the environment)."""
    env = server.environment()
    settings = settings_from_env(env)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if name in env:
            monkeypatch.setenv(name, env[name])

    async def go() -> TusSweep:
        store = build_storage(settings)
        try:
            ctx = Ctx(store, Principal.service(settings.db_service_role), "storage.tus.sweep")
            return await sweep_tus_uploads(ctx, older_than, dry_run)
        finally:
            await store.close()

    return asyncio.run(go())


def _staged(server: Server, upstream: Any, upload_id: str) -> list[str]:
    """What the TUS upload keeps in the backend outside objects: segments and multipart parts."""
    if upstream is None:
        root = Path(server.workdir) / "files"
        found = [str(p) for p in (root / "__s3proxy_tus" / "stub" / upload_id).rglob("*") if p.is_file()]
        return found + [str(p) for p in (root / ".multipart").rglob("*") if p.is_file()]
    client = upstream.client()
    found = [o["Key"] for o in client.list_objects_v2(Bucket=upstream.bucket, Prefix=f"__s3proxy_tus/stub/{upload_id}/")
             .get("Contents", [])]
    return found + [u["Key"] for u in client.list_multipart_uploads(Bucket=upstream.bucket).get("Uploads", [])
                    if u["Key"].endswith(f"/{upload_id}")]


def test_expired_uploads_are_swept(backend: str, postgres: Postgres, request: pytest.FixtureRequest,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = backend_upstream(request, backend)
    with own_server(backend, postgres, upstream, env={"TUS_URL_EXPIRY_MS": "1500"}) as srv:
        bucket = make_bucket(srv)
        tus = TusClient(srv)
        url = tus.create(bucket, "abandoned.bin", 20 * MiB).headers["Location"]
        upload_id = decode_id(url.rsplit("/", 1)[1]).upload_id
        assert tus.patch(url, 0, blob(6 * MiB)).status_code == 204  # a part
        assert tus.patch(url, 6 * MiB, blob(1000)).status_code == 204  # a segment
        done = tus.create(bucket, "done.bin", 3, body=b"abc").headers["Location"]
        assert _staged(srv, upstream, upload_id)
        assert _sweep(srv, timedelta(0), False, monkeypatch) == TusSweep(0, 0)  # nothing has expired yet
        time.sleep(2)
        r = tus.head(url)
        assert (r.status_code, tus.patch(url, 6 * MiB + 1000, b"x").status_code) == (410, 410)
        assert _sweep(srv, timedelta(hours=1), False, monkeypatch) == TusSweep(0, 0)  # not idle that long
        assert _sweep(srv, timedelta(0), True, monkeypatch) == TusSweep(1, 1)
        assert _staged(srv, upstream, upload_id)
        assert _sweep(srv, timedelta(0), False, monkeypatch) == TusSweep(1, 1)
        assert _staged(srv, upstream, upload_id) == []
        assert srv.sql("SELECT count(*) AS n FROM storage.s3proxy_tus_uploads")[0]["n"] == 0
        assert tus.head(url).status_code == 404 and tus.head(done).status_code == 404
        assert download(srv, bucket, "done.bin") == b"abc"


def test_memory_is_bounded_whatever_the_size(backend: str, postgres: Postgres,
                                             request: pytest.FixtureRequest) -> None:
    """A 384 MiB upload in one PATCH (tuspy's default) and in 6 MiB PATCHes: the server's
    summed RSS stays within 48 MiB of its idle value (parts stream; nothing is whole)."""
    from tests.integration.test_unauthenticated_memory import Sampler, idle_rss

    size = 384 * MiB
    piece = bytes(range(256)) * (MiB // 256)

    def stream(n: int) -> Iterator[bytes]:
        for i in range(0, n, MiB):
            yield piece[: min(MiB, n - i)]

    with own_server(backend, postgres, backend_upstream(request, backend)) as srv:
        bucket = make_bucket(srv)
        tus = TusClient(srv)
        for name, chunk in (("one.bin", size), ("six.bin", 6 * MiB)):
            url = tus.create(bucket, name, size).headers["Location"]
            before = idle_rss(srv)
            with Sampler(srv) as sampler:
                for offset in range(0, size, chunk):
                    n = min(chunk, size - offset)
                    r = tus.http.patch(url, headers={"Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE,
                                                     "Content-Length": str(n)}, content=stream(n))
                    assert r.status_code == 204, r.text
            grown = (sampler.peak - before) / MiB
            assert grown < 48, f"{name}: RSS grew by {grown:.0f} MiB"
            head = httpx.head(srv.url + f"object/{bucket}/{name}", headers=srv.headers())
            assert head.headers["Content-Length"] == str(size)
