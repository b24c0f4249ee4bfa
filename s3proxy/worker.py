"""One serving process: both apps on the inherited sockets, until SIGTERM drains it.

The supervisor (`server.serve`) binds the ports and forks; everything a worker needs
(asyncpg, the backends, botocore, the handlers) is imported here, after the fork, so
the supervisor itself stays small (its RSS counts towards the server's total).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Any

import tornado.httpserver
import tornado.ioloop

from s3proxy.app import in_flight, make_app, make_s3_app
from s3proxy.auth.credentials import CredentialStore, SecretBox
from s3proxy.auth.jwt import JwtKeys
from s3proxy.config import Settings
from s3proxy.db.scope import Database
from s3proxy.malloc import TRIM_EVERY_S, keep_large_buffers_on_heap, release_free_memory
from s3proxy.storage.context import Storage


def build_storage(settings: Settings) -> Storage:
    """The process-wide parts; called in each worker after the fork."""
    from s3proxy.backends import make_backend

    assert settings.database_url is not None
    db = Database(
        settings.database_url,
        max_size=settings.db_max_connections,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks)
    credentials = CredentialStore(db.fetch_unscoped, SecretBox(settings.jwt_secret), keys)
    return Storage(settings=settings, db=db, backend=make_backend(settings), keys=keys, credentials=credentials)


class _Worker:
    """One serving process: both apps on the shared sockets, draining on SIGTERM."""

    def __init__(self, settings: Settings, sockets: list[Any], s3_sockets: list[Any]) -> None:
        self.settings = settings
        self.sockets = sockets
        self.s3_sockets = s3_sockets

    async def run(self) -> None:
        storage = build_storage(self.settings)
        limit = self.settings.upload_file_size_limit + 1024 * 1024
        servers = []
        for app, socks in ((make_app(storage), self.sockets), (make_s3_app(storage), self.s3_sockets)):
            server = tornado.httpserver.HTTPServer(
                app, xheaders=False, max_body_size=limit, max_buffer_size=64 * 1024 * 1024,
                idle_connection_timeout=75, body_timeout=3600,
            )
            server.add_sockets(socks)
            servers.append(server)
        trimmer = tornado.ioloop.PeriodicCallback(release_free_memory, TRIM_EVERY_S * 1000)
        trimmer.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
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
        await storage.close()


def run_worker(settings: Settings, sockets: list[Any], s3_sockets: list[Any]) -> None:
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
    asyncio.run(_Worker(settings, sockets, s3_sockets).run())
