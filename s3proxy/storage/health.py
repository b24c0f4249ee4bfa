"""Readiness: can the metadata store and the byte store both be reached?

Each check runs with a deadline, both at once, and reports only what an operator
needs to act (ok, how long it took, the error's code): never a message, which could
name hosts, users or paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from s3proxy import errors
from s3proxy.storage.context import Ctx

CHECK_TIMEOUT = 5.0  # seconds; a check slower than this counts as failed


@dataclass(frozen=True)
class Check:
    ok: bool
    latency_ms: float
    error: str | None = None  # the error code (class name) when not ok

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok, "latency_ms": self.latency_ms}
        if self.error is not None:
            out["error"] = self.error
        return out


async def _timed(check: Callable[[], Awaitable[None]]) -> Check:
    started = time.monotonic()
    error: str | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await check()
    except errors.Error as exc:
        error = exc.code
    except TimeoutError:
        error = "Timeout"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        error = type(exc).__name__
    return Check(error is None, round((time.monotonic() - started) * 1000, 1), error)


async def _database(ctx: Ctx) -> None:
    async with ctx.service() as conn:  # the reference's query, in service scope
        await conn.fetch("SELECT id FROM storage.buckets LIMIT 1")


async def readiness(ctx: Ctx) -> dict[str, Check]:
    """Postgres and the backend, checked concurrently."""
    database, backend = await asyncio.gather(_timed(lambda: _database(ctx)), _timed(ctx.store.backend.ping))
    return {"database": database, "backend": backend}
