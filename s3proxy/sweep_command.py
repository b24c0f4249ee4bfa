"""`s3proxy sweep`: storage/sweep.py run once against the configured stores, with a
table of what each kind found and removed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from s3proxy.auth.principal import Principal
from s3proxy.config import Settings
from s3proxy.storage.context import Ctx
from s3proxy.storage.sweep import Swept, sweep


def _size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def table(results: list[Swept], dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    lines = [f"{'kind':32} {'found':>7} {verb:>12} {'bytes':>10} {'kept':>6}"]
    for r in results:
        lines.append(f"{r.kind:32} {r.found:7} {(r.found if dry_run else r.removed):12} "
                     f"{_size(r.bytes):>10} {r.kept:6}")
    return "\n".join(lines)


def run_sweep(settings: Settings, older_than: timedelta, dry_run: bool) -> None:
    from s3proxy import server
    from s3proxy.worker import build_storage

    settings = server.resolve_stores(settings)

    async def go() -> list[Swept]:
        store = build_storage(settings)
        try:
            ctx = Ctx(store, Principal.service(settings.db_service_role), "storage.sweep")
            return await sweep(ctx, older_than, dry_run)
        finally:
            await store.close()

    results = asyncio.run(go())
    print(f"sweep{' (dry run)' if dry_run else ''}: older than {older_than}")
    print(table(results, dry_run))
