"""Start-up: embedded defaults, sockets, the supervisor and its worker processes.

`resolve()` fills in what the environment left out (an embedded Postgres from
pgserver, a generated JWT secret and S3 key pair kept in the data directory, the
local-directory backend, one worker per core). `serve()` waits for Postgres, migrates,
binds both ports once, then forks the workers (`worker.py`), which share the
listening sockets, so N processes serve the same ports.

The supervisor only forks, forwards signals and waits, so it imports little: the
migration and the banner (asyncpg, the JWT library) run in a short-lived child
first, and each worker imports the application after its fork. The server's RSS is
counted over all its processes, and a supervisor that had loaded the application
would add about 20 MiB to it for nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.netutil

from s3proxy.config import Settings
from s3proxy.datadir import fill_secrets

log = logging.getLogger("s3proxy")

_embedded_pg: Any = None  # keeps the pgserver handle alive for the life of the process


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


def database_url(settings: Settings) -> str:
    """DATABASE_URL, else an embedded Postgres started under the data directory."""
    if settings.database_url is not None:
        return settings.database_url
    return start_embedded_postgres(Path(settings.data_dir).resolve() / "pg")


def resolve(settings: Settings) -> Settings:
    """Fill in the embedded defaults for whatever is not configured. The data directory
    is written only for what is missing (secrets, database, file backend)."""
    settings = fill_secrets(settings, create=True)
    changes: dict[str, Any] = {"database_url": database_url(settings)}
    if settings.storage_backend == "file" and not settings.file_backend_path:
        changes["file_backend_path"] = str(Path(settings.data_dir).resolve() / "files")
    if settings.workers <= 0:
        changes["workers"] = os.cpu_count() or 1
    return settings.with_overrides(**changes)


async def migrate_when_up(settings: Settings, url: str) -> list[str]:
    """Wait for Postgres (DATABASE_STARTUP_TIMEOUT), then bring the schema up to date;
    returns the migrations applied."""
    from s3proxy.db.migrate import migrate
    from s3proxy.db.wait import wait_for_database

    await wait_for_database(url, settings.db_startup_timeout)
    return await migrate(url)


def banner(settings: Settings) -> str:
    from s3proxy.auth.jwt import JwtKeys

    keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks)
    host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    lines = [
        "s3proxy is serving",
        f"  REST API      http://{host}:{settings.port}/",
        f"  S3 API        http://{host}:{settings.s3_port}/   (also http://{host}:{settings.port}/s3)",
        f"  backend       {settings.storage_backend}"
        + (f" ({settings.file_backend_path})" if settings.storage_backend == "file" else
           f" (bucket {settings.s3_bucket} at {settings.s3_endpoint or 'AWS'})"),
        f"  database      {'embedded Postgres in ' + settings.data_dir if _embedded_pg is not None else 'DATABASE_URL'}",
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


def _migrate_and_render_banner(settings: Settings) -> str:
    import asyncio

    assert settings.database_url is not None
    asyncio.run(migrate_when_up(settings, settings.database_url))
    return banner(settings)


def _in_child(work: Callable[[], str]) -> str:
    """`work()` run in a forked child that exits afterwards; its text comes back over a
    pipe. A failure there is logged there and ends the start-up here."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "w") as out:
                out.write(work())
            code = 0
        except SystemExit as exc:  # a start-up error already worded for the operator
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr, flush=True)
        except BaseException:
            log.exception("start-up failed")
        finally:
            os._exit(code)  # skip the parent's atexit handlers (the embedded Postgres)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        text = result.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(1)
    return text


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
    if settings.workers <= 1:
        text = _migrate_and_render_banner(settings)
    else:
        text = _in_child(lambda: _migrate_and_render_banner(settings))
    reuse = hasattr(__import__("socket"), "SO_REUSEPORT")
    sockets = tornado.netutil.bind_sockets(settings.port, settings.host, reuse_port=reuse)
    s3_sockets = tornado.netutil.bind_sockets(settings.s3_port, settings.host, reuse_port=reuse)
    print(text, flush=True)
    if settings.workers <= 1:
        from s3proxy.worker import run_worker

        run_worker(settings, sockets, s3_sockets)
        return
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if reuse:
                    sockets, s3_sockets = _own_sockets(settings, sockets + s3_sockets)
                from s3proxy.worker import run_worker

                run_worker(settings, sockets, s3_sockets)
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
