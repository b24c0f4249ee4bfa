"""Start-up: embedded defaults, sockets, worker processes and graceful shutdown.

`resolve()` fills in what the environment left out (an embedded Postgres from
pgserver, a generated JWT secret and S3 key pair kept in the data directory, the
local-directory backend). `serve()` binds both ports once, then forks the workers,
which share the listening sockets, so N processes serve the same ports.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.ioloop
import tornado.netutil

from s3proxy.app import in_flight, make_app, make_s3_app
from s3proxy.auth.jwt import JwtKeys
from s3proxy.config import Settings
from s3proxy.db.migrate import migrate
from s3proxy.db.scope import Database
from s3proxy.malloc import TRIM_EVERY_S, keep_large_buffers_on_heap, release_free_memory
from s3proxy.storage.context import Storage

log = logging.getLogger("s3proxy")

_embedded_pg: Any = None  # keeps the pgserver handle alive for the life of the process


def _load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets generated on first start and kept, so tokens and keys survive restarts."""
    path = data_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "s3_access_key_id": secrets.token_hex(16),
        "s3_access_key_secret": secrets.token_hex(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def start_embedded_postgres(folder: Path) -> str:
    """Start (or reuse) a pgserver Postgres in `folder`; returns its URL."""
    global _embedded_pg
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            "DATABASE_URL is not set and the embedded Postgres is not installed: "
            "pip install 's3proxy[embedded]' or set DATABASE_URL"
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    _embedded_pg = pgserver.get_server(str(folder), cleanup_mode="stop")
    return str(_embedded_pg.get_uri())


def resolve(settings: Settings, *, need_database: bool = True) -> Settings:
    """Fill in the embedded defaults for whatever is not configured."""
    data_dir = Path(settings.data_dir).resolve()
    kept = _load_or_create_secrets(data_dir)
    changes: dict[str, Any] = {}
    if not settings.jwt_secret:
        changes["jwt_secret"] = kept["jwt_secret"]
    if not settings.s3_protocol_access_key_id:
        changes["s3_protocol_access_key_id"] = kept["s3_access_key_id"]
        changes["s3_protocol_access_key_secret"] = kept["s3_access_key_secret"]
    if settings.storage_backend == "file" and not settings.file_backend_path:
        changes["file_backend_path"] = str(data_dir / "files")
    if need_database and settings.database_url is None:
        changes["database_url"] = start_embedded_postgres(data_dir / "pg")
    return settings.with_overrides(**changes)


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
    return Storage(settings=settings, db=db, backend=make_backend(settings), keys=keys)


def banner(settings: Settings) -> str:
    keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks)
    host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    lines = [
        "s3proxy is serving",
        f"  REST API      http://{host}:{settings.port}/",
        f"  S3 API        http://{host}:{settings.s3_port}/   (also http://{host}:{settings.port}/s3)",
        f"  backend       {settings.storage_backend}"
        + (f" ({settings.file_backend_path})" if settings.storage_backend == "file" else
           f" (bucket {settings.s3_bucket} at {settings.s3_endpoint or 'AWS'})"),
        f"  database      {'embedded Postgres in ' + settings.data_dir if settings.embedded_database else 'DATABASE_URL'}",
        f"  workers       {settings.workers}",
        "",
        f"  S3 access key id      {settings.s3_protocol_access_key_id}",
        f"  S3 secret access key  {settings.s3_protocol_access_key_secret}",
        f"  S3 region             {settings.s3_protocol_region}",
        "",
        f"  anon JWT          {settings.anon_key or keys.mint(settings.db_anon_role)}",
        f"  service_role JWT  {settings.service_key or keys.mint(settings.db_service_role)}",
    ]
    return "\n".join(lines)


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


def _run_worker(settings: Settings, sockets: list[Any], s3_sockets: list[Any]) -> None:
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


def _own_sockets(settings: Settings, inherited: list[Any]) -> tuple[list[Any], list[Any]]:
    """A worker's own SO_REUSEPORT listening sockets. With one shared socket, whichever
    worker wakes first accepts a whole burst of connections and the others idle; with
    one socket per worker the kernel spreads connections evenly across them."""
    own = tornado.netutil.bind_sockets(settings.port, settings.host, reuse_port=True)
    own_s3 = tornado.netutil.bind_sockets(settings.s3_port, settings.host, reuse_port=True)
    for sock in inherited:
        sock.close()
    return own, own_s3


def serve(settings: Settings) -> None:
    settings = resolve(settings)
    assert settings.database_url is not None
    asyncio.run(migrate(settings.database_url))
    reuse = hasattr(__import__("socket"), "SO_REUSEPORT")
    sockets = tornado.netutil.bind_sockets(settings.port, settings.host, reuse_port=reuse)
    s3_sockets = tornado.netutil.bind_sockets(settings.s3_port, settings.host, reuse_port=reuse)
    print(banner(settings), flush=True)
    if settings.workers <= 1:
        _run_worker(settings, sockets, s3_sockets)
        return
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if reuse:
                    sockets, s3_sockets = _own_sockets(settings, sockets + s3_sockets)
                _run_worker(settings, sockets, s3_sockets)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)  # skip the parent's atexit handlers (the embedded Postgres)
        children.append(pid)
    if reuse:  # the workers listen on sockets of their own now
        for sock in sockets + s3_sockets:
            sock.close()

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid in children:
            children.remove(pid)
    sys.exit(0)
