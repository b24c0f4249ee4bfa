"""Is the metadata store answering?"""

from __future__ import annotations

from s3proxy import errors
from s3proxy.storage.context import Ctx


async def is_healthy(ctx: Ctx) -> bool:
    try:
        async with ctx.service() as conn:
            await conn.fetch("SELECT id FROM storage.buckets LIMIT 1")
    except errors.Error:
        return False
    return True
