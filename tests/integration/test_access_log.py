"""The access log (issue 15 §3): one line per request with the real outcome.

A dedicated server logs JSON at INFO; each request's line is found by the request id
its response carried, and must name the protocol, operation, bucket, key, bytes, the
error code with its own status (REST errors go out as HTTP 400), and a duration.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.s3_support import s3_client
from tests.integration.wire import BACKENDS, backend_upstream, exchange, log_since, log_size, own_server
from tests.rig import Postgres, Server


@pytest.fixture(scope="module", params=BACKENDS)
def json_server(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    env = {"LOG_LEVEL": "info", "LOG_FORMAT": "json", "REQUEST_TRACE_HEADER": "trace-id"}
    with own_server(backend, postgres, backend_upstream(request, backend), env=env) as srv:
        yield srv


def access_lines(srv: Server, start: int) -> dict[str, dict[str, Any]]:
    """The access records written since `start`, by request id."""
    time.sleep(0.3)
    records = [json.loads(line) for line in log_since(srv, start).splitlines() if line.startswith("{")]
    return {r["request_id"]: r for r in records if r["logger"] == "s3proxy.access"}


def test_each_request_logs_its_real_outcome(json_server: Server) -> None:
    srv = json_server
    bucket = f"log-{uuid.uuid4().hex[:8]}"
    start = log_size(srv)
    with httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=30) as http:
        assert http.post("bucket", json={"name": bucket}).status_code == 200
        put = http.post(f"object/{bucket}/dir/a b.txt", content=b"x" * 1000)
        get = http.get(f"object/{bucket}/dir/a b.txt")
        missing = http.get("bucket/no-such-bucket", headers={"trace-id": "gateway-trace-42"})
        unknown = http.get("no/such/route")
    s3 = s3_client(srv)
    s3.put_object(Bucket=bucket, Key="s3key", Body=b"y" * 300)
    no_key = exchange(srv.s3_url, "GET", f"/{bucket}/absent")  # unsigned: refused before the lookup
    lines = access_lines(srv, start)

    rest_put = lines[put.headers["trace-id"]]
    assert rest_put["status"] == 200 and rest_put["protocol"] == "rest" and rest_put["method"] == "POST"
    assert rest_put["operation"] == "storage.object.upload"
    assert (rest_put["bucket"], rest_put["key"]) == (bucket, "dir/a b.txt")
    assert rest_put["bytes_in"] == 1000 and rest_put["bytes_out"] == len(put.content)
    assert rest_put["duration_ms"] > 0 and rest_put["level"] == "INFO"
    rest_get = lines[get.headers["trace-id"]]
    assert rest_get["bytes_out"] == 1000 and rest_get["operation"] == "storage.object.get_authenticated"

    assert missing.headers["trace-id"] == "gateway-trace-42"  # a caller's trace id is adopted
    err = lines["gateway-trace-42"]
    assert (err["status"], err["error"], err["error_status"]) == (400, "NoSuchBucket", 404)
    assert err["operation"] == "storage.bucket.get" and err["level"] == "WARNING"
    route = lines[unknown.headers["trace-id"]]
    assert (route["status"], route["error"], route.get("error_status")) == (404, "InvalidRequest", None)

    s3_put = [r for r in lines.values() if r["protocol"] == "s3" and r["method"] == "PUT"]
    assert len(s3_put) == 1 and s3_put[0]["operation"] == "storage.s3.upload"
    assert s3_put[0]["bytes_in"] >= 300 and s3_put[0]["key"] == "s3key" and s3_put[0]["status"] == 200
    denied = lines[no_key.header("x-amz-request-id") or ""]
    assert denied["status"] == no_key.status and denied["error"] and denied["bucket"] == bucket


def test_text_lines_start_with_the_status_and_carry_the_operation(postgres: Postgres) -> None:
    with own_server("file", postgres, None, env={"LOG_LEVEL": "info"}) as srv:
        start = log_size(srv)
        r = httpx.get(srv.url + "bucket/absent", headers=srv.headers())
        time.sleep(0.3)
        lines = [line for line in log_since(srv, start).splitlines() if "s3proxy.access" in line]
    rid = r.headers["x-request-id"]
    line = next(line for line in lines if rid in line)
    assert "s3proxy.access 400 GET /bucket/absent NoSuchBucket(404) rest:storage.bucket.get bucket=absent" in line
