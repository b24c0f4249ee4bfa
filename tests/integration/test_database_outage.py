"""A database outage is a clear 5xx in the Supabase format, and the server recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.proxy import TcpProxy, postgres_target, via_proxy
from tests.rig import Postgres, Server


@pytest.fixture(scope="module")
def outage_server(postgres: Postgres) -> Iterator[tuple[Server, TcpProxy]]:
    url = postgres.new_database("s3proxy_outage")
    proxy = TcpProxy(postgres_target(url))
    srv = Server(backend="file", database_url=via_proxy(url, proxy.port))
    srv.start()
    yield srv, proxy
    srv.close()
    proxy.close()


def test_database_down_then_back(outage_server: tuple[Server, TcpProxy]) -> None:
    srv, proxy = outage_server
    headers = srv.headers()
    assert httpx.get(srv.url + "bucket", headers=headers).status_code == 200

    proxy.cut()
    r = httpx.get(srv.url + "bucket", headers=headers, timeout=30)
    assert 500 <= r.status_code < 600, r.text
    body = r.json()
    assert set(body) == {"statusCode", "error", "message", "code"}
    assert body["statusCode"] == str(r.status_code)
    assert httpx.get(srv.url + "status").status_code == 200  # still serving
    r = httpx.get(srv.url + "health", timeout=30)  # readiness: no token needed
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["healthy"] is False and body["database"]["ok"] is False
    assert body["database"]["error"] in ("DatabaseUnavailable", "DatabaseTimeout", "Timeout")
    assert body["backend"]["ok"] is True

    proxy.restore()
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(srv.url + "bucket", headers=headers, timeout=30)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    r = httpx.get(srv.url + "health")
    assert r.status_code == 200 and r.json()["healthy"] is True and r.json()["database"]["ok"] is True
