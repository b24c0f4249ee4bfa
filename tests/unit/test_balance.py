"""Balanced accepting: servers sharing one listening socket end up with equal shares of
a burst of connections, never wait long for a worker that does not accept, and the
counts they publish are visible across fork."""

from __future__ import annotations

import asyncio
import os
import time

import tornado.netutil
import tornado.web

from s3proxy.balance import MAX_DEFER, BalancedHTTPServer, ConnectionCounts


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hi")


def _server(counts: ConnectionCounts, worker: int) -> BalancedHTTPServer:
    server = BalancedHTTPServer(tornado.web.Application([("/", Hello)]))
    server.balance(counts, worker)
    return server


async def _open(port: int, n: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(n):  # a burst, as a client pool or load generator opens them
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
    return writers


async def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.005)


def test_a_burst_of_connections_is_split_evenly() -> None:
    async def scenario() -> list[int]:
        [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
        counts = ConnectionCounts(2)
        servers = [_server(counts, 0), _server(counts, 1)]
        servers[0].add_sockets([sock])
        servers[1].add_sockets([sock.dup()])  # one listening socket, as forked workers share it
        writers = await _open(sock.getsockname()[1], 20)
        await _until(lambda: sum(counts.slots) == 20)
        split = list(counts.slots)
        for writer in writers:
            writer.close()
        await _until(lambda: sum(counts.slots) == 0)
        assert list(counts.slots) == [0, 0]  # closed connections are counted out
        for server in servers:
            server.stop()
        return split

    assert asyncio.run(scenario()) == [10, 10]


def test_a_worker_that_never_accepts_delays_connections_only_briefly() -> None:
    async def scenario() -> float:
        [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
        counts = ConnectionCounts(2)  # worker 1 exists in the counts but never accepts
        server = _server(counts, 0)
        server.add_sockets([sock])
        started = time.monotonic()
        writers = await _open(sock.getsockname()[1], 5)
        await _until(lambda: counts.slots[0] == 5)
        took = time.monotonic() - started
        assert counts.slots[0] == 5
        for writer in writers:
            writer.close()
        server.stop()
        assert counts.slots[0] > 10**9  # stopped: the others must not defer to it
        return took

    assert asyncio.run(scenario()) < 5 * MAX_DEFER + 1.0  # generous: no correctness in the timing


def test_counts_are_shared_with_forked_workers_and_retired_ones_are_skipped() -> None:
    counts = ConnectionCounts(3)
    pid = os.fork()
    if pid == 0:
        counts.slots[1] = 7
        os._exit(0)
    os.waitpid(pid, 0)
    assert list(counts.slots) == [0, 7, 0]
    assert counts.fewest_elsewhere(0) == 0
    counts.retire(2)
    assert counts.fewest_elsewhere(0) == 7
