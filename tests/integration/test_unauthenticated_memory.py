"""A request without credentials cannot make the server hold its body (issue 15 §0).

Handlers that do not stream had tornado buffer the whole body in memory before any
credential was checked: `POST /no/such/route` with 512 MiB took a worker from 119 to
1,018 MiB. Here each such request (256 MiB) goes, without credentials, to a dedicated
two-worker server on both ports, while the server's summed RSS (supervisor plus
workers) is sampled; it must stay within 20 MiB of its idle value just before. The body comes from a
generator, so the test holds one chunk of it at a time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.integration.wire import BACKENDS, backend_upstream, own_server
from tests.rig import Postgres, Server

MIB = 1024 * 1024
BODY = 256 * MIB  # today's server holds it twice over (chunks, then joined)
CHUNK = b"\0" * MIB
ALLOWANCE = 20 * MIB

# (label, which port, path); POST with no credentials
ROUTES = [
    ("REST unknown route", "port", "/no/such/route"),
    ("REST /status", "port", "/status"),
    ("REST /bucket", "port", "/bucket"),
    ("/s3 unknown bucket", "port", "/s3/no/such/route"),
    ("S3 port unknown route", "s3_port", "/no/such/route"),
    ("S3 port /status", "s3_port", "/status"),
    ("S3 port /bucket", "s3_port", "/bucket"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def lean(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    backend = request.param
    with own_server(backend, postgres, backend_upstream(request, backend), workers=2) as srv:
        yield srv


def summed_rss(server: Server) -> int:
    """RSS of the server's processes: the supervisor and its workers."""
    assert server.proc is not None
    root = psutil.Process(server.proc.pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler:
    """The highest summed RSS seen while it runs, sampled every 10 ms."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, summed_rss(self.server))
            time.sleep(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.5)  # what the request left behind counts too
        self._stop.set()
        self._thread.join()


def body() -> Iterator[bytes]:
    for _ in range(BODY // MIB):
        yield CHUNK


def idle_rss(server: Server) -> int:
    time.sleep(1.0)
    samples = []
    for _ in range(10):
        samples.append(summed_rss(server))
        time.sleep(0.05)
    return int(statistics.median(samples))


def test_unauthenticated_bodies_are_not_buffered(lean: Server) -> None:
    srv = lean
    grew: dict[str, int] = {}
    answers: dict[str, str] = {}
    idles: list[int] = []
    for label, port, path in ROUTES:
        url = f"http://127.0.0.1:{getattr(srv, port)}{path}"
        idle = idle_rss(srv)  # just before: what an earlier request left behind is not this one's
        idles.append(idle)
        with Sampler(srv) as sampler:
            try:
                r = httpx.post(url, content=body(), headers={"Content-Length": str(BODY),
                                                             "Content-Type": "application/octet-stream"},
                               timeout=60)
                answers[label] = str(r.status_code)
            except httpx.TransportError as exc:  # the server may refuse to read and close
                answers[label] = f"closed ({type(exc).__name__})"
        grew[label] = sampler.peak - idle
    report = "\n".join(f"  {label}: +{grew[label] / MIB:.0f} MiB, answer {answers[label]}" for label, _, _ in ROUTES)
    # refused (any 4xx, or S3's 501 for an operation it does not implement), never a 2xx or a 500
    refused = all(not a.isdigit() or 400 <= int(a) != 500 for a in answers.values())
    assert refused, f"answers:\n{report}"
    worst = max(grew.values())
    assert worst <= ALLOWANCE, f"summed RSS over idle ({min(idles) / MIB:.0f} MiB):\n{report}"
