"""One serving process: both apps on the inherited sockets, until SIGTERM drains it.

The supervisor (`server.serve`) binds the ports and forks; everything a worker needs
(asyncpg, the backends, botocore, the handlers) is imported here, after the fork, so
the supervisor itself stays small (its RSS counts towards the server's total).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Any

import tornado.httpserver
import tornado.ioloop

from s3proxy import metrics
from s3proxy.app import image_service, in_flight, make_app, make_s3_app
from s3proxy.auth.credentials import CredentialStore, SecretBox
from s3proxy.auth.jwt import JwtKeys
from s3proxy.config import Settings
from s3proxy.db.scope import Database
from s3proxy.malloc import TRIM_EVERY_S, keep_large_buffers_on_heap, release_free_memory
from s3proxy.storage.context import Storage

log = logging.getLogger("s3proxy")


def build_storage(settings: Settings) -> Storage:
    """The process-wide parts; called in each worker after the fork."""
    from s3proxy.backends import make_backend

    assert settings.database_url is not None
    db = Database(
        settings.database_url,
        max_size=settings.db_max_connections,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks,
                   allowed_roles=settings.allowed_roles)
    credentials = CredentialStore(db.fetch_unscoped, SecretBox(settings.jwt_secret), keys)
    return Storage(settings=settings, db=db, backend=make_backend(settings), keys=keys, credentials=credentials)


def _housekeeping() -> None:
    release_free_memory()
    metrics.sample_memory()


class _Worker:
    """One serving process: both apps on the shared sockets, draining on SIGTERM."""

    def __init__(self, settings: Settings, sockets: list[Any], s3_sockets: list[Any],
                 parent_watch: int | None) -> None:
        self.settings = settings
        self.sockets = sockets
        self.s3_sockets = s3_sockets
        self.parent_watch = parent_watch  # a pipe that ends when the supervisor is gone

    def _watch_parent(self, stop: asyncio.Event) -> None:
        """Stop as on SIGTERM once the supervisor's end of the pipe closes."""
        fd = self.parent_watch
        assert fd is not None
        loop = asyncio.get_running_loop()

        def readable() -> None:
            if os.read(fd, 1) == b"":
                loop.remove_reader(fd)
                log.warning("worker %d: the supervisor is gone; stopping", os.getpid())
                stop.set()

        loop.add_reader(fd, readable)

    async def run(self) -> None:
        if self.settings.metrics_enabled:
            metrics.enable()
        storage = build_storage(self.settings)
        images = image_service(self.settings)  # libvips loads on the first render, if any
        limit = self.settings.upload_file_size_limit + 1024 * 1024
        servers = []
        for app, socks in ((make_app(storage, images), self.sockets), (make_s3_app(storage), self.s3_sockets)):
            server = tornado.httpserver.HTTPServer(
                app, xheaders=False, max_body_size=limit, max_buffer_size=64 * 1024 * 1024,
                idle_connection_timeout=75, body_timeout=3600,
            )
            server.add_sockets(socks)
            servers.append(server)
        metrics.sample_memory()
        trimmer = tornado.ioloop.PeriodicCallback(_housekeeping, TRIM_EVERY_S * 1000)
        trimmer.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if self.parent_watch is not None:
            self._watch_parent(stop)
        await stop.wait()
        trimmer.stop()
        for server in servers:
            server.stop()
        for _ in range(100):  # drain in-flight requests for up to 10 s
            if in_flight() == 0:
                break
            await asyncio.sleep(0.1)
        for server in servers:
            await server.close_all_connections()
        await loop.run_in_executor(None, images.close)  # waits for renders still running
        await storage.close()


def run_worker(settings: Settings, sockets: list[Any], s3_sockets: list[Any], parent_watch: int | None = None) -> None:
    # Everything alive now lives as long as the process: keep it out of the collector's
    # scans, and collect young objects less often (request objects die young anyway),
    # which trims the latency tail the full collections cause under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    keep_large_buffers_on_heap()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_Worker(settings, sockets, s3_sockets, parent_watch).run())
