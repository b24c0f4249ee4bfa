"""Wait for Postgres at start-up, with bounded retries and one log line per attempt.

In docker compose (or after a host reboot) the server often starts before its
database accepts connections; it used to exit with a traceback. Errors that waiting
cannot fix (a wrong password, a missing database) end the start at once, and every
ending is one line naming the database, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlsplit

import asyncpg

log = logging.getLogger("s3proxy")

# Not up yet, starting, shutting down, or full: worth another try.
_TRANSIENT = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
              asyncpg.CannotConnectNowError, asyncpg.exceptions.OperatorInterventionError,
              asyncpg.TooManyConnectionsError)


def describe(url: str) -> str:
    """host:port/database of a Postgres URL, without its credentials (also socket URLs)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = query.get("port", [str(parts.port or 5432)])[0]
    return f"{host}:{port}{parts.path or '/'}"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def wait_for_database(url: str, timeout: float, *, first_delay: float = 0.5) -> None:
    """Return once a connection to `url` opens; SystemExit after `timeout` seconds of
    transient failures (0 = a single attempt) or at the first permanent one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    where, delay, attempt = describe(url), first_delay, 0
    while True:
        attempt += 1
        try:
            conn = await asyncpg.connect(url, timeout=min(10.0, max(1.0, deadline - loop.time())))
        except _TRANSIENT as exc:
            left = deadline - loop.time()
            if left <= 0:
                raise SystemExit(f"s3proxy: Postgres at {where} did not accept connections within "
                                 f"{timeout:g} s (DATABASE_STARTUP_TIMEOUT): {_reason(exc)}") from None
            log.warning("waiting for Postgres at %s (attempt %d, %.0f s left): %s", where, attempt, left,
                        _reason(exc))
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
            continue
        except asyncpg.PostgresError as exc:
            raise SystemExit(f"s3proxy: Postgres at {where} refused the connection: {_reason(exc)}") from None
        await conn.close()
        if attempt > 1:
            log.info("Postgres at %s accepts connections", where)
        return
