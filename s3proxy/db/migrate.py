"""Apply the SQL files in `migrations/` in order, once each, recorded in
`storage.migrations` (the table Supabase's runner uses, so both can share a database).

Every file is idempotent on its own; the record only saves work. An advisory lock
keeps several starting nodes from migrating at the same time.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import asyncpg

_LOCK_KEY = 0x53335058  # "S3PX"

_CREATE_TABLE = """
CREATE SCHEMA IF NOT EXISTS storage;
CREATE TABLE IF NOT EXISTS storage.migrations (
  id integer PRIMARY KEY,
  name varchar(100) UNIQUE NOT NULL,
  hash varchar(40) NOT NULL,
  executed_at timestamp DEFAULT current_timestamp
);
"""


def migration_files() -> list[tuple[str, str]]:
    """(file name, SQL text) pairs in the order they run."""
    folder = resources.files("s3proxy.db") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, (folder / name).read_text(encoding="utf-8")) for name in names]


async def migrate(dsn: str) -> list[str]:
    """Run the pending migrations; returns the names that ran."""
    conn = await asyncpg.connect(dsn)
    ran: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(_CREATE_TABLE)
        done = {r["name"] for r in await conn.fetch("SELECT name FROM storage.migrations")}
        for file_name, sql in migration_files():
            name = "s3proxy-" + file_name.removesuffix(".sql")
            if name in done:
                continue
            digest = hashlib.sha1((file_name + sql).encode()).hexdigest()
            async with conn.transaction():
                await conn.execute(sql)
                next_id = await conn.fetchval(
                    "SELECT coalesce(max(id), 1000) + 1 FROM storage.migrations WHERE id > 1000"
                )
                await conn.execute(
                    "INSERT INTO storage.migrations (id, name, hash) VALUES ($1, $2, $3)",
                    next_id,
                    name,
                    digest,
                )
            ran.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        await conn.close()
    return ran
