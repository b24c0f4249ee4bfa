"""Spreading connections evenly over the worker processes.

Why: a client such as a connection pool or a load generator opens its connections in
one burst and keeps them. With one SO_REUSEPORT socket per worker the kernel hashes
each connection to a worker, and 64 connections split 38/26 as often as 32/32; the
busier worker's requests then wait about 40 % longer, which is what the latency tail
shows. With one shared socket, whichever worker wakes first accepts the whole burst.

So the workers share one listening socket and keep their open-connection counts in
memory they all see. A worker accepts only while it holds no more connections than
the least busy one: the others are woken by the same readiness event and take the rest.
A worker that declines stops watching the socket for a moment (`PAUSE`), instead of
spinning on it. It never declines for longer than `MAX_DEFER` in a row, so a worker
stuck in a long computation cannot leave connections waiting in the backlog.
"""

from __future__ import annotations

import errno
import mmap
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

PAUSE = 0.0005  # seconds a worker that declined waits before it looks at the socket again
MAX_DEFER = 0.01  # after this long declining, a worker accepts whatever the counts say
ACCEPT_BATCH = 64  # connections taken per wake-up at most, as tornado's accept handler
RETIRED = 2**62  # the count of a worker that has exited


class ConnectionCounts:
    """Open connections per worker, in anonymous shared memory: create it before
    forking, and each worker writes only its own slot."""

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 8 * workers)
        self.slots = memoryview(self._memory).cast("q")

    def retire(self, worker: int) -> None:
        """Mark a worker that has exited, so that nobody waits for it to accept."""
        self.slots[worker] = RETIRED

    def fewest_elsewhere(self, worker: int) -> int:
        return min((n for i, n in enumerate(self.slots) if i != worker), default=0)


@dataclass(frozen=True)
class WorkerShare:
    """What one worker needs to balance: its number and the counts of each port."""

    worker: int
    counts: tuple[ConnectionCounts, ...]


class BalancedHTTPServer(HTTPServer):
    """An HTTPServer that accepts from a socket shared with other workers only while it
    is among the least busy of them. Call `balance()` before `add_sockets()`."""

    counts: ConnectionCounts | None = None
    worker = 0

    def balance(self, counts: ConnectionCounts, worker: int) -> None:
        self.counts, self.worker = counts, worker

    def add_sockets(self, sockets: Any) -> None:
        if self.counts is None:
            super().add_sockets(sockets)
            return
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _Acceptor(self, sock).stop

    def handle_stream(self, stream: Any, address: tuple[Any, ...]) -> None:
        super().handle_stream(stream, address)
        self._publish()

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        self._publish()

    def stop(self) -> None:
        super().stop()
        if self.counts is not None:  # draining: the others must not wait for us
            self.counts.retire(self.worker)

    def _publish(self) -> None:
        if self.counts is not None and not self._stopped:
            self.counts.slots[self.worker] = len(self._connections)

    def may_accept(self) -> bool:
        assert self.counts is not None
        return len(self._connections) <= self.counts.fewest_elsewhere(self.worker)


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Acceptor:
    """Watches one shared listening socket for a BalancedHTTPServer."""

    def __init__(self, server: BalancedHTTPServer, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.loop = IOLoop.current()
        self.declining_since: float | None = None
        self.resume: object | None = None
        self.stopped = False
        self.loop.add_handler(sock, self._on_ready, IOLoop.READ)

    def _on_ready(self, _fd: Any, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.stopped:
                return
            if not self.server.may_accept():
                now = time.monotonic()
                self.declining_since = self.declining_since or now
                if now - self.declining_since < MAX_DEFER:
                    self._pause()
                    return
            try:
                connection, address = self.sock.accept()
            except BlockingIOError:
                return  # nothing left, or another worker took it
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                raise
            self.declining_since = None
            self.server._handle_connection(connection, address)

    def _pause(self) -> None:
        self.loop.remove_handler(self.sock)
        self.resume = self.loop.call_later(PAUSE, self._watch_again)

    def _watch_again(self) -> None:
        self.resume = None
        if self.stopped:
            return
        if not _readable(self.sock):  # another worker took what we declined
            self.declining_since = None
        self.loop.add_handler(self.sock, self._on_ready, IOLoop.READ)

    def stop(self) -> None:
        self.stopped = True
        if self.resume is not None:
            self.loop.remove_timeout(self.resume)
        else:
            self.loop.remove_handler(self.sock)
