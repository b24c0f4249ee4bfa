"""The upstream S3 store going away: clear 5xx errors in each protocol's format, no row
without bytes, and the same requests succeed once it is back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.s3_support import error_code, s3_client
from tests.proxy import TcpProxy
from tests.rig import Postgres, SeaweedFS, Server


@pytest.fixture(scope="module")
def outage(postgres: Postgres, upstream: SeaweedFS) -> Iterator[tuple[Server, TcpProxy]]:
    proxy = TcpProxy(("127.0.0.1", upstream.s3_port))
    via_proxy = SeaweedFS(endpoint=f"http://127.0.0.1:{proxy.port}", bucket=upstream.bucket)
    srv = Server(backend="s3", database_url=postgres.new_database("s3proxy_upstream"), upstream=via_proxy)
    srv.start()
    httpx.post(srv.url + "bucket", json={"name": "outage"}, headers=srv.headers())
    yield srv, proxy
    srv.close()
    proxy.close()


def _rows(srv: Server, name: str) -> list[dict[str, Any]]:
    return srv.sql("SELECT name FROM storage.objects WHERE bucket_id = 'outage' AND name = $1", name)


def _assert_rest_5xx(r: httpx.Response) -> None:
    assert 500 <= r.status_code < 600, r.text
    body = r.json()
    assert set(body) == {"statusCode", "error", "message", "code"}
    assert body["code"] == "BackendUnavailable"


def test_upstream_down_then_back(outage: tuple[Server, TcpProxy]) -> None:
    srv, proxy = outage
    rest = httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=60)
    s3 = s3_client(srv)
    assert rest.post("object/outage/kept.txt", content=b"kept").status_code == 200

    proxy.cut()
    try:
        _assert_rest_5xx(rest.post("object/outage/new.txt", content=b"new"))
        assert _rows(srv, "new.txt") == []
        _assert_rest_5xx(rest.get("object/outage/kept.txt"))
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket="outage", Key="new-s3.txt", Body=b"new")
        code, status = error_code(caught.value)
        assert status == 503 and code in ("BackendUnavailable", "ServiceUnavailable", "SlowDown")
        assert _rows(srv, "new-s3.txt") == []
        assert rest.get("object/info/outage/kept.txt").status_code == 200  # metadata still answers
        log = (Path(srv.workdir) / "server.log").read_text(errors="replace")  # each 5xx is logged with its cause
        assert "WARNING s3proxy.rest GET /object/outage/kept.txt -> BackendUnavailable: upstream" in log
        ready = httpx.get(srv.url + "health", timeout=30)  # readiness says which dependency is down
        assert ready.status_code == 503, ready.text
        assert ready.json()["healthy"] is False and ready.json()["database"]["ok"] is True
        assert ready.json()["backend"]["ok"] is False and ready.json()["backend"]["type"] == "s3"
        assert ready.json()["backend"]["error"] in ("BackendUnavailable", "Timeout")
        scrape = httpx.get(srv.url + "metrics").text
        failed = [line for line in scrape.splitlines()
                  if line.startswith("s3proxy_upstream_errors_total{") and 'kind="unavailable"' in line]
        assert failed and sum(float(line.rsplit(" ", 1)[1]) for line in failed) >= 3, scrape
    finally:
        proxy.restore()

    assert httpx.get(srv.url + "health").json()["healthy"] is True
    assert rest.post("object/outage/new.txt", content=b"new").status_code == 200
    assert rest.get("object/outage/new.txt").content == b"new"
    assert rest.get("object/outage/kept.txt").content == b"kept"
    s3.put_object(Bucket="outage", Key="new-s3.txt", Body=b"new")
    assert s3.get_object(Bucket="outage", Key="new-s3.txt")["Body"].read() == b"new"


def test_upstream_lost_mid_upload(outage: tuple[Server, TcpProxy]) -> None:
    srv, proxy = outage
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        chunk = b"x" * (1024 * 1024)
        for i in range(64):
            if i == 8:
                proxy.cut()
                sent.set()
            yield chunk

    try:
        r = httpx.post(srv.url + "object/outage/big.bin", content=body(), headers=srv.headers(), timeout=60)
        assert sent.is_set()
        _assert_rest_5xx(r)
    except httpx.HTTPError:
        pass  # the server may close the connection before reading the whole body
    finally:
        proxy.restore()
    assert _rows(srv, "big.bin") == []
    r = httpx.post(srv.url + "object/outage/big.bin", content=b"y" * 1024, headers=srv.headers(), timeout=60)
    assert r.status_code == 200
    assert httpx.get(srv.url + "object/outage/big.bin", headers=srv.headers()).content == b"y" * 1024
