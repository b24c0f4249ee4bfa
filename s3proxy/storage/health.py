"""Is the metadata store answering?"""

from __future__ import annotations

from s3proxy.storage.context import Ctx
from s3proxy.storage.errors import StorageError


async def is_healthy(ctx: Ctx) -> bool:
    try:
        async with ctx.service("storage.health") as conn:
            await conn.fetch("SELECT id FROM storage.buckets LIMIT 1")
    except StorageError:
        return False
    return True
