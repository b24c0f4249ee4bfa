"""The one-round-trip lookup functions apply RLS for the role they set, even when the
same connection ran them as service_role just before (no plan reused across roles)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from s3proxy.auth.principal import Principal
from s3proxy.db.scope import RequestInfo, scope_settings
from tests.rig import Server


def test_rls_applies_per_call_on_one_connection(server: Server, http: httpx.Client, bucket: str) -> None:
    assert http.post(f"object/{bucket}/secret.txt", content=b"s").status_code == 200

    async def run() -> list[bool]:
        conn = await asyncpg.connect(server.database_url)
        seen = []
        try:
            for principal in [Principal.service(), Principal.anonymous(), Principal.service(),
                              Principal(role="authenticated", claims={"role": "authenticated", "sub": "x"}),
                              Principal.anonymous()]:
                names, values = scope_settings(principal, "test", RequestInfo(), 5000)
                for _ in range(6):  # past plpgsql's switch to a generic plan
                    row = await conn.fetchrow(
                        "SELECT * FROM storage.s3proxy_scoped_object($1::text[], $2::text[], $3, $4)",
                        names, values, bucket, "secret.txt")
                seen.append(row is not None)
                seen.append(await conn.fetchval("SELECT current_user = session_user"))
        finally:
            await conn.close()
        return seen

    seen = asyncio.run(run())
    assert seen[0::2] == [True, False, True, False, False]
    assert all(seen[1::2])  # the role does not outlive the statement
