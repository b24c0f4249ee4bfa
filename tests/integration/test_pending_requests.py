"""Every request ends, even when its framing is broken or its client leaves while the
server waits for the body (issue 15 §2, "Handlers left pending").

When tornado rejects a request's framing (an empty or negative Content-Length) after
a streaming handler has started, or a client that asked for `Expect: 100-continue`
goes away before sending its body, the handler's future never completes: nothing is
logged, the request stays in flight, and only shutdown ends it, as a 500. A few
hundred unauthenticated requests pile up that many handlers.

The observable: after such a barrage, a dedicated server is stopped with SIGTERM. A
server with nothing in flight exits at once and has nothing to log at shutdown; one
with pending handlers logs each of them as a 500 while it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.wire import BACKENDS, backend_upstream, faults, log_since, log_size, own_server
from tests.rig import Postgres, Server

ROUNDS = 35  # per kind and target: 3 kinds x 3 targets x 35 = 315 requests
EXIT_WITHIN_S = 5.0


@pytest.fixture(scope="module", params=BACKENDS)
def dedicated(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    with own_server(backend, postgres, backend_upstream(request, backend), workers=2) as srv:
        yield srv


def _send(port: int, head: bytes, *, wait_for: bytes | None) -> bytes:
    """Send `head`; read until `wait_for` appears (or the server closes); then leave."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (wait_for is None or wait_for not in got):
            try:
                chunk = sock.recv(4096)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
    return got


def test_broken_framing_and_vanished_clients_leave_nothing_in_flight(dedicated: Server) -> None:
    srv = dedicated
    bucket = f"pend-{uuid.uuid4().hex[:8]}"
    assert httpx.post(srv.url + "bucket", json={"name": bucket}, headers=srv.headers()).status_code == 200
    targets = [  # REST upload, S3 port, S3 under /s3 on the main port; no credentials
        ("REST", srv.port, f"/object/{bucket}/pending"),
        ("S3 port", srv.s3_port, f"/{bucket}/pending"),
        ("/s3", srv.port, f"/s3/{bucket}/pending"),
    ]
    kinds = [  # (what, extra headers, what the client waits for before it leaves)
        ("empty Content-Length", "Content-Length: \r\n", b"\r\n\r\n"),
        ("negative Content-Length", "Content-Length: -1\r\n", b"\r\n\r\n"),
        ("Expect: 100-continue, then gone", "Content-Length: 100\r\nExpect: 100-continue\r\n", b"100"),
    ]
    answers: dict[str, set[bytes]] = {}
    for _ in range(ROUNDS):
        for name, port, path in targets:
            for kind, extra, wait_for in kinds:
                got = _send(port, f"PUT {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode(), wait_for=wait_for)
                answers.setdefault(f"{kind} via {name}", set()).add(got.split(b"\r\n", 1)[0])
    # each was answered: 400 for the framing, 100 Continue for the expectation
    for what, first_lines in answers.items():
        assert all(line.startswith(b"HTTP/1.1 ") for line in first_lines), (what, first_lines)
    time.sleep(2.0)  # the server's own bounded time to tear down what it may still hold
    offset = log_size(srv)
    assert srv.proc is not None
    started = time.monotonic()
    os.killpg(srv.proc.pid, signal.SIGTERM)
    try:
        srv.proc.wait(30)
    except Exception:  # noqa: BLE001 - reported below
        pass
    took = time.monotonic() - started
    at_shutdown = log_since(srv, offset)
    found = faults(at_shutdown)
    assert not found, (f"{len(found)} requests were still in flight at shutdown (logged as they were torn "
                       f"down), e.g.:\n" + "\n".join(found[:10]))
    assert srv.proc.poll() is not None and took < EXIT_WITHIN_S, f"the server took {took:.1f}s to exit"
