"""The supervisor: forks the workers, replaces the ones that die, and takes them along
when it goes.

Why each piece:
- A worker outliving its supervisor keeps serving with nobody to stop or replace it,
  and a new server could bind the same ports beside it (SO_REUSEPORT lets any process
  of the same user do that). So each worker asks Linux to send it SIGTERM when its
  parent dies (`PR_SET_PDEATHSIG`, through ctypes), and also watches a pipe whose only
  write end the supervisor holds: the read end sees end-of-file when the supervisor is
  gone, however it went, on any POSIX system. Either way the worker drains as on
  SIGTERM and exits. `server.serve` also refuses to start while anything listens on
  its ports (`refuse_if_taken`).
- A worker that dies (a crash, the OOM killer, `kill -9`) is replaced, after a pause
  that doubles while replacements keep dying young (up to MAX_BACKOFF), so a worker
  that cannot start does not make the supervisor spin. Nothing is replaced once a
  shutdown has begun.
- The supervisor imports neither tornado's application nor prometheus_client (a dead
  worker's live gauges are dropped by file name, `metrics.forget_process`), so its
  own memory stays small.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import sys
import time
from typing import Any

import tornado.netutil

from s3proxy import metrics
from s3proxy.config import Settings

log = logging.getLogger("s3proxy")

PR_SET_PDEATHSIG = 1
FIRST_BACKOFF = 0.5  # seconds before a dead worker is replaced
MAX_BACKOFF = 30.0
YOUNG = 10.0  # a worker that dies younger than this doubles the next pause


def refuse_if_taken(settings: Settings) -> None:
    """Exit with one line when something listens on our ports already. A socket bound
    without SO_REUSEPORT cannot share a port with anyone, so this bind fails while an
    earlier server, or workers it left behind, still listen there."""
    for port in (settings.port, settings.s3_port):
        try:
            probes = tornado.netutil.bind_sockets(port, settings.host, reuse_port=False)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise SystemExit(f"s3proxy: port {port} on {settings.host} is in use (another server, or the "
                             "workers of one that was killed?)") from None
        for sock in probes:
            sock.close()


def die_with_parent(parent: int) -> None:
    """In a worker, just after the fork: SIGTERM when the supervisor dies (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(0)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Supervisor:
    """Keeps `settings.workers` workers running until SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, sockets: list[Any], s3_sockets: list[Any], reuse_port: bool) -> None:
        self.settings = settings
        self.sockets, self.s3_sockets = sockets, s3_sockets
        self.reuse_port = reuse_port
        self.children: dict[int, float] = {}  # pid -> when it started
        self.stopping = False
        self.backoff = FIRST_BACKOFF
        self.watch, self._lifeline = os.pipe()  # workers read `watch`; only we hold `_lifeline`

    def run(self) -> None:
        for _ in range(self.settings.workers):
            self._spawn()
        if self.reuse_port:  # the workers listen on sockets of their own; replacements bind theirs
            for sock in self.sockets + self.s3_sockets:
                sock.close()
            self.sockets, self.s3_sockets = [], []
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = self.children.pop(pid, None)
            if started is None:
                continue
            metrics.forget_process(pid)
            if self.stopping:
                continue
            self._replace(pid, status, time.monotonic() - started)

    def _replace(self, pid: int, status: int, lived: float) -> None:
        young = lived < YOUNG
        pause = self.backoff if young else FIRST_BACKOFF
        self.backoff = min(pause * 2, MAX_BACKOFF) if young else FIRST_BACKOFF
        log.error("worker %d %s after %.0f s; starting another in %.1f s", pid, _describe(status), lived, pause)
        deadline = time.monotonic() + pause
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.stopping:
            self._spawn()

    def _stop(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        for child in self.children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    def _spawn(self) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._worker(parent)
        self.children[pid] = time.monotonic()

    def _worker(self, parent: int) -> None:
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the supervisor's forwarding
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.close(self._lifeline)
            die_with_parent(parent)
            sockets, s3_sockets = self.sockets, self.s3_sockets
            if self.reuse_port:
                sockets, s3_sockets = _own_sockets(self.settings, sockets + s3_sockets)
            from s3proxy.worker import run_worker

            run_worker(self.settings, sockets, s3_sockets, parent_watch=self.watch)
        except BaseException:
            log.exception("worker failed")
            code = 1
        finally:
            os._exit(code)  # skip the parent's atexit handlers (the embedded Postgres)


def _own_sockets(settings: Settings, inherited: list[Any]) -> tuple[list[Any], list[Any]]:
    """A worker's own SO_REUSEPORT listening sockets. With one shared socket, whichever
    worker wakes first accepts a whole burst of connections and the others idle; with
    one socket per worker the kernel spreads connections evenly across them."""
    own = tornado.netutil.bind_sockets(settings.port, settings.host, reuse_port=True)
    own_s3 = tornado.netutil.bind_sockets(settings.s3_port, settings.host, reuse_port=True)
    for sock in inherited:
        sock.close()
    return own, own_s3
