"""Principal-scoped transactions: the unit of every piece of database work.

Each transaction first sets, in one statement, the Postgres role and the GUCs that
Supabase's RLS policies read (`request.jwt.claims`, `request.jwt.claim.<name>`,
`storage.operation`, …), so `auth.uid()`, `auth.role()`, `auth.jwt()` and
`storage.foldername(name)` behave exactly as under Supabase Storage (reference §5.2).
Postgres errors leave this module as s3proxy.errors classes (reference §3.3).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from s3proxy import errors
from s3proxy.auth.principal import Principal
from s3proxy.db.slots import FairSlots

_GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOO_MANY = ("remaining connection slots", "too many clients", "Max client connections", "no more connections")


@dataclass(frozen=True)
class RequestInfo:
    """The parts of the HTTP request that policies may read through GUCs."""

    method: str = ""
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


def scope_settings(
    principal: Principal, operation: str, request: RequestInfo, statement_timeout_ms: int
) -> tuple[list[str], list[str]]:
    """The (names, values) the scope statement sets, role last."""
    names = [
        "request.jwt.claims",
        "request.jwt.claim.role",
        "request.jwt.claim.sub",
        "request.jwt",
        "request.method",
        "request.path",
        "request.headers",
        "storage.operation",
        "storage.allow_delete_query",
        "statement_timeout",
    ]
    values = [
        json.dumps(dict(principal.claims), separators=(",", ":"), default=str),
        principal.role,
        principal.sub or "",
        principal.jwt,
        request.method,
        request.path,
        json.dumps({k.lower(): v for k, v in request.headers.items()}, separators=(",", ":")),
        operation,
        "true",
        f"{statement_timeout_ms}ms",
    ]
    for claim, value in principal.claims.items():
        if claim in ("role", "sub") or not _GUC_NAME.match(claim):
            continue
        names.append(f"request.jwt.claim.{claim}")
        values.append(value if isinstance(value, str) else json.dumps(value, default=str))
    names.append("role")
    values.append(principal.role)
    return names, values


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is forced on for our sessions)."""
    if "\x00" in value:
        raise errors.InvalidRequest("NUL bytes are not allowed")
    return "'" + value.replace("'", "''") + "'"


def begin_scope_sql(names: list[str], values: list[str]) -> str:
    """`BEGIN` plus every set_config of the scope, as one simple-protocol message: the
    whole scope costs one round trip to Postgres."""
    calls = ", ".join(f"set_config({_literal(n)}, {_literal(v)}, true)" for n, v in zip(names, values, strict=True))
    return f"BEGIN; SELECT {calls}"


async def run_as(conn: asyncpg.Connection, role: str) -> None:
    """Inside a scoped transaction, run the statements that follow as `role` (the claims
    GUCs stay the caller's). For the rare unit of work that must be one transaction yet
    do part of its work beyond the caller's grants, such as deleting a bucket: the
    caller's own DELETE is what RLS judges, the clean-up of rows the caller cannot
    touch (another user's unfinished uploads) runs as service_role, and either both
    commit or neither does. Switch back before the statements RLS must judge."""
    await conn.execute("SELECT set_config('role', $1, true)", role)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Before a connection goes back to the pool. Everything we set is transaction-local,
    so there is nothing to reset unless a transaction was left open by a cancellation
    (asyncpg's default reset would cost a round trip per request)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def map_database_error(exc: BaseException) -> errors.Error:
    """Reference §3.3: SQLSTATE → storage error."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        message = str(exc)
        if state == "42501":
            if "row-level security" in message:
                return errors.AccessDenied("new row violates row-level security policy")
            return errors.AccessDenied(message)
        if state == "23505":
            return errors.ResourceAlreadyExists()
        if state == "23503":
            if "still referenced" in message:
                return errors.ResourceReferenced(message)
            return errors.RelatedResourceNotFound()
        if state == "55P03":
            return errors.ResourceLocked()
        if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
            return errors.DatabaseUnavailable()
        if state == "57014":
            return errors.DatabaseTimeout()
        if state in ("42703", "42P01"):
            return errors.DatabaseSchemaMismatch()
        if state == "22P02":
            return errors.InvalidParameter(message)
        if state in ("22021", "22P05"):  # a NUL the edge checks missed: text and jsonb cannot hold one
            return errors.InvalidArgument("The request holds a character that cannot be stored (NUL)")
        if state in ("22003", "22000"):  # a number out of the column's range
            return errors.InvalidArgument("A number in the request is out of range")
        if state == "22023" and "role" in message:
            return errors.AccessDenied("Access denied: invalid role")
        if any(text in message for text in _TOO_MANY):
            return errors.SlowDown()
        return errors.DatabaseError(f"database error, code: {state}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return errors.DatabaseTimeout()
    return errors.DatabaseUnavailable()


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in and out as Python objects."""
    for type_name in ("jsonb", "json"):
        await conn.set_type_codec(
            type_name, encoder=lambda v: json.dumps(v, separators=(",", ":")), decoder=json.loads,
            schema="pg_catalog",
        )


class Database:
    """An asyncpg pool plus the scoped-transaction helper every query goes through."""

    def __init__(self, dsn: str, *, max_size: int = 10, statement_timeout_ms: int = 30000) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self.statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._slots = FairSlots(max_size)

    async def _get_pool(self) -> asyncpg.Pool:
        # Created lazily so the server starts (and keeps answering /status) while the
        # database is down; a later request creates it once Postgres is back.
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=0,
                        max_size=self.max_size,
                        timeout=5,
                        command_timeout=max(5.0, self.statement_timeout_ms / 1000 + 5),
                        server_settings={"search_path": "storage,public,extensions", "standard_conforming_strings": "on"},
                        max_inactive_connection_lifetime=60,
                        init=_init_connection,
                        reset=_reset_connection,
                    )
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, in arrival order (see db/slots.py)."""
        pool = await self._get_pool()
        async with self._slots.slot(timeout=10), pool.acquire(timeout=10) as conn:
            yield conn

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(
        self,
        principal: Principal,
        operation: str,
        request: RequestInfo | None = None,
        *,
        rollback: bool = False,
    ) -> AsyncIterator[asyncpg.Connection]:
        """One transaction run as `principal`; `rollback=True` makes it a dry run
        (the RLS permission probe: do the real write, see if Postgres allows it, undo it)."""
        names, values = scope_settings(principal, operation, request or RequestInfo(), self.statement_timeout_ms)
        try:
            async with self._connection() as conn:
                await conn.execute(begin_scope_sql(names, values))
                try:
                    yield conn
                except BaseException:
                    if not conn.is_closed():
                        await conn.execute("ROLLBACK")
                    raise
                await conn.execute("ROLLBACK" if rollback else "COMMIT")
        except errors.Error:
            raise
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
            raise map_database_error(exc) from exc

    async def fetch_one(
        self,
        principal: Principal,
        operation: str,
        request: RequestInfo | None,
        function: str,
        *args: object,
        columns: str = "*",
    ) -> asyncpg.Record | None:
        """One row from one of the `storage.s3proxy_*` functions that take the scope first
        (migrations 0003, 0004): scope and work in one statement, one round trip, same
        RLS as `transaction()`. `columns` selects from the result, known as `r`."""
        names, values = scope_settings(principal, operation, request or RequestInfo(), self.statement_timeout_ms)
        params = ", ".join(f"${i}" for i in range(3, 3 + len(args)))
        sql = f"SELECT {columns} FROM storage.{function}($1::text[], $2::text[], {params}) AS r"
        try:
            async with self._connection() as conn:
                return await conn.fetchrow(sql, names, values, *args)
        except errors.Error:
            raise
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
            raise map_database_error(exc) from exc

    async def fetch_unscoped(self, sql: str, *args: object) -> asyncpg.Record | None:
        """One row as the login user itself, no request role set: only for the server's
        own tables that no request role may read (the S3 credentials of migration 0007)."""
        try:
            async with self._connection() as conn:
                return await conn.fetchrow(sql, *args)
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
            raise map_database_error(exc) from exc
