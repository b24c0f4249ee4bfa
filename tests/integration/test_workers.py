"""Workers and their supervisor (issue 15 §1c "Workers").

- kill -9 of the supervisor: its workers exit within a few seconds (parent-death
  signal, and the pipe they watch) and the ports are free again;
- kill -9 of a worker: the supervisor starts another, and the server keeps answering;
- a server does not start beside whatever already listens on its ports (workers a
  killed server left behind would otherwise share them through SO_REUSEPORT).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.integration.wire import log_since, own_server
from tests.rig import REPO, Postgres, Server


@pytest.fixture
def two_workers(postgres: Postgres) -> Iterator[Server]:
    with own_server("file", postgres, None, workers=2) as srv:
        yield srv


def workers_of(srv: Server) -> list[psutil.Process]:
    assert srv.proc is not None
    return psutil.Process(srv.proc.pid).children()


def gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids):
            return True
        time.sleep(0.1)
    return False


def port_is_free(port: int) -> bool:
    """Bindable without SO_REUSEPORT: nobody listens there any more."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_workers_exit_when_the_supervisor_is_killed(two_workers: Server, postgres: Postgres) -> None:
    srv = two_workers
    pids = [p.pid for p in workers_of(srv)]
    assert len(pids) == 2
    assert httpx.get(srv.url + "status").status_code == 200
    assert srv.proc is not None
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(10)
    assert gone(pids, timeout=5), "workers still running after their supervisor was killed"
    assert port_is_free(srv.port) and port_is_free(srv.s3_port)
    again = Server(backend="file", database_url=srv.database_url, port=srv.port, s3_port=srv.s3_port)
    try:
        again.start()  # the same ports serve again
        assert httpx.get(again.url + "status").status_code == 200
    finally:
        again.close()


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(two_workers: Server) -> None:
    srv = two_workers
    first = workers_of(srv)
    victim = first[0]
    victim.kill()
    victim.wait(5)
    for _ in range(40):  # each on a fresh connection, spread over the remaining sockets
        assert httpx.get(srv.url + "status").status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = workers_of(srv)
        if len(now) == 2 and victim.pid not in [p.pid for p in now]:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no replacement: workers {[p.pid for p in workers_of(srv)]}")
    replacement = next(p for p in now if p.pid != first[1].pid)
    deadline = time.monotonic() + 10
    served: set[int] = set()
    while time.monotonic() < deadline and replacement.pid not in served:
        assert httpx.get(srv.url + "status").status_code == 200
        served = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == srv.port
                  and c.status == psutil.CONN_LISTEN and c.pid}
    assert replacement.pid in served, "the replacement does not listen on the port"
    assert "was killed by SIGKILL" in log_since(srv, 0)


def test_a_server_does_not_start_beside_what_listens_on_its_ports(postgres: Postgres, tmp_path: object) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as an orphaned worker's socket
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    srv = Server(backend="file", database_url=postgres.new_database("s3proxy_squat"), port=port)
    try:
        env = srv.environment()
        done = subprocess.run([sys.executable, "-m", "s3proxy", "serve", "--port", str(port), "--workers", "2",
                               "--data-dir", str(tmp_path)], env=env, cwd=str(REPO), capture_output=True,
                              text=True, timeout=60)
    finally:
        squatter.close()
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
