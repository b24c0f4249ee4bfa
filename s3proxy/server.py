"""Start-up: embedded defaults, sockets, the supervisor and its worker processes.

`resolve()` fills in what the environment left out (an embedded Postgres from
pgserver, a generated JWT secret and S3 key pair kept in the data directory, the
local-directory backend, one worker per core). `serve()` checks that nothing listens
on its ports yet, waits for Postgres, migrates, binds both ports once, then the
supervisor (`supervisor.py`) forks the workers (`worker.py`), which serve the same
ports, and replaces those that die.

The supervisor only forks, forwards signals and waits, so it imports little: the
migration and the banner (asyncpg, the JWT library) run in a short-lived child
first, and each worker imports the application after its fork. The server's RSS is
counted over all its processes, and a supervisor that had loaded the application
would add about 20 MiB to it for nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import tornado.netutil

from s3proxy import metrics
from s3proxy.config import Settings
from s3proxy.datadir import fill_secrets
from s3proxy.supervisor import Supervisor, refuse_if_taken

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


def resolve_stores(settings: Settings) -> Settings:
    """The database and the file backend's folder, embedded defaults filled in (also
    what `s3proxy sweep` needs)."""
    changes: dict[str, Any] = {"database_url": database_url(settings)}
    if settings.storage_backend == "file" and not settings.file_backend_path:
        changes["file_backend_path"] = str(Path(settings.data_dir).resolve() / "files")
    return settings.with_overrides(**changes)


def resolve(settings: Settings) -> Settings:
    """Fill in the embedded defaults for whatever is not configured. The data directory
    is written only for what is missing (secrets, database, file backend)."""
    settings = resolve_stores(fill_secrets(settings, create=True))
    if settings.workers <= 0:
        settings = settings.with_overrides(workers=os.cpu_count() or 1)
    return settings


async def migrate_when_up(settings: Settings, url: str) -> list[str]:
    """Wait for Postgres (DATABASE_STARTUP_TIMEOUT), then bring the schema up to date;
    returns the migrations applied."""
    from s3proxy.db.migrate import migrate
    from s3proxy.db.wait import wait_for_database

    await wait_for_database(url, settings.db_startup_timeout)
    return await migrate(url)


def _generated_secrets(settings: Settings) -> frozenset[str]:
    """The secrets the configuration leaves to the data directory ("jwt", "s3"): the
    banner shows those, for a quick start, but never what the operator configured,
    since the banner goes wherever the server's output goes (a container's log)."""
    return frozenset(name for name, given in (("jwt", settings.jwt_secret),
                                              ("s3", settings.s3_protocol_access_key_id)) if not given)


def banner(settings: Settings, generated: Collection[str] = ("jwt", "s3")) -> str:
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
        "  S3 secret access key  " + (settings.s3_protocol_access_key_secret if "s3" in generated
                                      else "(configured: S3_PROTOCOL_ACCESS_KEY_SECRET)"),
        f"  S3 region             {settings.s3_protocol_region}",
        "",
    ]
    if "jwt" in generated:
        lines += [f"  anon JWT          {settings.anon_key or keys.mint(settings.db_anon_role)}",
                  f"  service_role JWT  {settings.service_key or keys.mint(settings.db_service_role)}"]
    else:
        lines.append("  JWTs              signed with the configured secret (`s3proxy token` prints one)")
    return "\n".join(lines)


def _migrate_and_render_banner(settings: Settings, generated: Collection[str]) -> str:
    import asyncio

    assert settings.database_url is not None
    asyncio.run(migrate_when_up(settings, settings.database_url))
    return banner(settings, generated)


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


def serve(settings: Settings) -> None:
    generated = _generated_secrets(settings)
    settings = resolve(settings)
    refuse_if_taken(settings)
    if settings.workers <= 1:
        text = _migrate_and_render_banner(settings, generated)
    else:
        text = _in_child(lambda: _migrate_and_render_banner(settings, generated))
    reuse = hasattr(__import__("socket"), "SO_REUSEPORT")
    sockets = tornado.netutil.bind_sockets(settings.port, settings.host, reuse_port=reuse)
    s3_sockets = tornado.netutil.bind_sockets(settings.s3_port, settings.host, reuse_port=reuse)
    directory = metrics.prepare_directory(settings.metrics_dir, settings.port) if settings.metrics_enabled else None
    print(text, flush=True)
    try:
        if settings.workers <= 1:
            from s3proxy.worker import run_worker

            run_worker(settings, sockets, s3_sockets)
        else:
            Supervisor(settings, sockets, s3_sockets, reuse).run()
    finally:
        metrics.remove_directory(directory, settings.metrics_dir)
    sys.exit(0)
