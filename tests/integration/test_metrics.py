"""Prometheus `/metrics` (issue 15 §3): one scrape sums every worker.

A dedicated 2-worker server gets requests on fresh connections (the kernel spreads
them over both workers' sockets), then one scrape must count every one of them, and
the metrics folder must hold counts of both worker processes. One pooled database
connection per worker makes concurrent requests wait for it, which the pool-wait
counter must show.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from s3proxy.metrics import default_directory
from tests.integration.s3_support import s3_client
from tests.integration.wire import BACKENDS, backend_upstream, own_server
from tests.rig import Postgres, Server


@pytest.fixture(scope="module", params=BACKENDS)
def two_workers(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    with own_server(backend, postgres, backend_upstream(request, backend), workers=2,
                    env={"DATABASE_MAX_CONNECTIONS": "1"}) as srv:
        yield srv


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_one_scrape_counts_the_requests_of_both_workers(two_workers: Server) -> None:
    srv = two_workers
    bucket = f"m-{uuid.uuid4().hex[:8]}"
    headers = srv.headers()
    assert httpx.post(srv.url + "bucket", json={"name": bucket}, headers=headers).status_code == 200
    before = httpx.get(srv.url + "metrics").text
    puts, gets = 20, 48
    for i in range(puts):  # a fresh connection each: both workers get some
        assert httpx.post(srv.url + f"object/{bucket}/k{i}", content=b"z" * 100, headers=headers).status_code == 200
    with ThreadPoolExecutor(16) as pool:
        done = list(pool.map(lambda i: httpx.get(srv.url + f"object/authenticated/{bucket}/k{i % puts}",
                                                 headers=headers).status_code, range(gets)))
    assert done == [200] * gets
    missing = httpx.get(srv.url + f"object/authenticated/{bucket}/absent", headers=headers)
    assert missing.status_code == 400
    s3 = s3_client(srv)
    s3.put_object(Bucket=bucket, Key="via-s3", Body=b"s" * 500)
    assert s3.get_object(Bucket=bucket, Key="via-s3")["Body"].read() == b"s" * 500

    scrape = httpx.get(srv.url + "metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text

    def grew(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    upload = {"protocol": "rest", "operation": "storage.object.upload"}
    read = {"protocol": "rest", "operation": "storage.object.get_authenticated"}
    assert grew("s3proxy_requests_total", status="200", **upload) == puts
    assert grew("s3proxy_requests_total", status="200", **read) == gets
    assert grew("s3proxy_requests_total", status="404", **read) == 1  # the real outcome, not HTTP 400
    assert grew("s3proxy_requests_total", protocol="s3", operation="storage.s3.upload", status="200") == 1
    assert grew("s3proxy_request_duration_seconds_count", **upload) == puts
    assert grew("s3proxy_received_bytes_total", **upload) == puts * 100
    assert grew("s3proxy_sent_bytes_total", **read) == gets * 100 + len(missing.content)
    assert grew("s3proxy_received_bytes_total", protocol="s3", operation="storage.s3.upload") >= 500
    assert sample(text, "s3proxy_requests_in_flight", protocol="rest") == 1  # the scrape itself
    assert sample(text, "s3proxy_db_pool_waits_total") > 0  # 16 readers, one connection per worker
    assert sample(text, "s3proxy_resident_memory_bytes") > 10 * 1024 * 1024

    folder = default_directory(srv.port)
    workers = [p.pid for p in psutil.Process(srv.proc.pid).children()]  # type: ignore[union-attr]
    assert len(workers) == 2
    counted = {int(f.stem.rsplit("_", 1)[1]) for f in Path(folder).glob("counter_*.db")}
    assert set(workers) <= counted, f"counts of {sorted(counted)}, workers {workers}"


def test_metrics_token_and_switch(postgres: Postgres) -> None:
    with own_server("file", postgres, None, env={"METRICS_TOKEN": "scrape-secret"}) as srv:
        assert httpx.get(srv.url + "metrics").status_code == 400
        wrong = httpx.get(srv.url + "metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 400 and wrong.json()["code"] == "AccessDenied"
        ok = httpx.get(srv.url + "metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200 and "s3proxy_requests_total" in ok.text
        folder = default_directory(srv.port)
        assert folder.is_dir()
    assert not folder.exists()  # removed at exit
    with own_server("file", postgres, None, env={"METRICS_ENABLED": "false"}) as srv:
        off = httpx.get(srv.url + "metrics")
        assert off.status_code == 404 and off.json()["code"] == "InvalidRequest"
        assert not default_directory(srv.port).exists()
