"""`s3proxy sweep` (issue 15 §1c "Orphans", §3): each kind of leftover is made the way
kills and outages make it, `--dry-run` counts without removing, the real run removes,
and a live object and a fresh (in-grace) orphan stay.

- a worker killed mid-upload (a chunked body): the file backend keeps a `.tmp` file,
  the s3 backend an upstream multipart upload no row knows;
- a blob at a data key without a row (an outage between upload and commit);
- an S3 multipart upload never completed (a row plus the backend's upload).
Each server has a tenant of its own, so its sweep sees only its own keys in the
shared upstream bucket.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from s3proxy.storage.sweep import KINDS
from tests.integration.s3_support import s3_client
from tests.integration.wire import BACKENDS, backend_upstream, own_server
from tests.rig import REPO, Postgres, Server

MiB = 1024 * 1024
GRACE = 10  # seconds: the orphan made just before the two sweeps must stay younger than this on a loaded machine


@pytest.fixture(params=BACKENDS)
def sweepable(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    env = {"TENANT_ID": f"sweep{uuid.uuid4().hex[:8]}", "STORAGE_S3_UPLOAD_PART_SIZE": "5MiB"}
    with own_server(backend, postgres, backend_upstream(request, backend), workers=2, env=env) as srv:
        yield srv


def run_sweep(srv: Server, *extra: str) -> dict[str, tuple[int, int]]:
    """`s3proxy sweep` with the server's configuration; kind -> (found, removed)."""
    done = subprocess.run([sys.executable, "-m", "s3proxy", "sweep", "--older-than", f"{GRACE}s", *extra],
                          env=srv.environment(), cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = re.findall(r"^([a-z][a-z -]+?)\s+(\d+)\s+(\d+)\s+\S+(?: \w+)?\s+(\d+)$", done.stdout, re.M)
    assert len(rows) == len(KINDS), done.stdout
    return {kind.strip(): (int(found), int(removed)) for kind, found, removed, _ in rows}


def kill_workers_mid_upload(srv: Server, bucket: str) -> None:
    """A chunked upload (length unknown: the s3 backend goes multipart) whose workers are
    killed after 12 MiB."""
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        for i in range(200):
            if i == 12:
                sent.set()
            yield b"k" * MiB
            time.sleep(0.05)

    def upload() -> None:
        try:
            httpx.post(srv.url + f"object/{bucket}/killed.bin", content=body(), headers=srv.headers(), timeout=60)
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    assert sent.wait(30)
    time.sleep(1.0)
    assert srv.proc is not None
    victims = psutil.Process(srv.proc.pid).children()
    for worker in victims:
        worker.kill()
    thread.join(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = psutil.Process(srv.proc.pid).children()
        if len(now) == 2 and not {v.pid for v in victims} & {p.pid for p in now}:
            break
        time.sleep(0.2)
    for _ in range(50):
        try:
            if httpx.get(srv.url + "status").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def test_sweep_finds_and_removes_each_kind_and_keeps_live_data(sweepable: Server) -> None:
    srv = sweepable
    tenant = srv.extra_env["TENANT_ID"]
    bucket = f"sw-{uuid.uuid4().hex[:8]}"
    rest = httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=60)
    assert rest.post("bucket", json={"name": bucket}).status_code == 200
    assert rest.post(f"object/{bucket}/live.txt", content=b"live").status_code == 200
    long_name = "l" * 1000  # stored under a hashed data key (too long for the upstream's layout)
    assert rest.post(f"object/{bucket}/{long_name}", content=b"long").status_code == 200
    s3 = s3_client(srv)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="never-completed")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="never-completed", UploadId=upload_id, PartNumber=1, Body=b"p" * 1024)
    kill_workers_mid_upload(srv, bucket)
    orphan = f"{tenant}/{bucket}/orphan.txt/{uuid.uuid4()}"
    store = Store(srv)
    store.put(orphan, b"o" * 2048)
    assert srv.sql("SELECT count(*) AS n FROM storage.objects WHERE name = 'killed.bin'")[0]["n"] == 0
    scratch_before = store.scratch()
    unknown_before = store.unknown_uploads(tenant, upload_id)
    if srv.backend == "file":
        assert scratch_before, "the killed upload left no .tmp file"
    else:
        assert unknown_before, "the killed upload left no upstream multipart upload"
    time.sleep(GRACE + 1)
    fresh = f"{tenant}/{bucket}/fresh.txt/{uuid.uuid4()}"  # an orphan still in its grace period
    store.put(fresh, b"f")

    dry = run_sweep(srv, "--dry-run")
    assert dry["abandoned multipart uploads"] == (1, 1)  # "would remove" in a dry run
    assert dry["orphaned version blobs"][0] == 1
    if srv.backend == "file":
        assert dry["temporary files"][0] == len(scratch_before) >= 1
        assert dry["backend uploads without a row"][0] == 0
    else:
        assert dry["backend uploads without a row"][0] == len(unknown_before) >= 1
    assert store.exists(orphan) and store.scratch() == scratch_before
    assert store.unknown_uploads(tenant, upload_id) == unknown_before
    assert srv.sql("SELECT count(*) AS n FROM storage.s3_multipart_uploads WHERE id = $1", upload_id)[0]["n"] == 1

    done = run_sweep(srv)
    assert done["abandoned multipart uploads"] == (1, 1)
    assert done["orphaned version blobs"] == (1, 1)
    assert not store.exists(orphan) and store.scratch() == [] and store.unknown_uploads(tenant, upload_id) == []
    assert not store.upload_open(tenant, bucket, upload_id)
    assert srv.sql("SELECT count(*) AS n FROM storage.s3_multipart_uploads WHERE id = $1", upload_id)[0]["n"] == 0
    assert store.exists(fresh), "an orphan within its grace period was removed"
    assert rest.get(f"object/{bucket}/live.txt").content == b"live"
    assert rest.get(f"object/{bucket}/{long_name}").content == b"long", "a live long-named object was swept"
    assert run_sweep(srv)["orphaned version blobs"] == (0, 0)


class Store:
    """The server's byte store, seen directly (the file backend's folder, or the upstream)."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.root = Path(srv.workdir) / "files"
        self.upstream = srv.upstream.client() if srv.upstream is not None else None
        self.bucket = srv.upstream.bucket if srv.upstream is not None else ""

    def put(self, key: str, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.put_object(Bucket=self.bucket, Key=key, Body=data)
        else:
            path = self.root.joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def exists(self, key: str) -> bool:
        if self.upstream is not None:
            return bool(self.upstream.list_objects_v2(Bucket=self.bucket, Prefix=key).get("Contents"))
        return self.root.joinpath(*key.split("/")).exists()

    def scratch(self) -> list[str]:
        folder = self.root / ".tmp"
        return sorted(os.listdir(folder)) if folder.is_dir() else []

    def _uploads(self, tenant: str) -> list[dict[str, str]]:
        assert self.upstream is not None
        return self.upstream.list_multipart_uploads(Bucket=self.bucket, Prefix=tenant + "/").get("Uploads", [])

    def unknown_uploads(self, tenant: str, known: str) -> list[str]:
        if self.upstream is None:
            return []
        return sorted(u["UploadId"] for u in self._uploads(tenant) if u["UploadId"] != known)

    def upload_open(self, tenant: str, bucket: str, upload_id: str) -> bool:
        if self.upstream is None:
            return (self.root / ".multipart" / upload_id).exists()
        return any(u["UploadId"] == upload_id for u in self._uploads(tenant))
