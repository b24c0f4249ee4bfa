"""`s3proxy keys create | list | revoke`: users' own S3 keys (auth/credentials.py).

The command talks to the server's database (DATABASE_URL, or the embedded Postgres of
--data-dir, started for the command if the server is not running) and seals secrets
with the server's AUTH_JWT_SECRET (from the environment or the data directory), so it
must see the same configuration as the server. The schema is brought up to date first,
as `s3proxy migrate` would, so a key can be created before the first `serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import asyncpg

from s3proxy.auth import credentials
from s3proxy.config import Settings


def _claims(raw: str) -> dict[str, Any]:
    try:
        claims = json.loads(raw)
    except ValueError:
        raise SystemExit("s3proxy: --claims must be a JSON object") from None
    if not isinstance(claims, dict):
        raise SystemExit("s3proxy: --claims must be a JSON object")
    for reserved in ("sub", "role"):
        if reserved in claims:
            raise SystemExit(f"s3proxy: give `{reserved}` with --{reserved}, not in --claims")
    return claims


async def _run(settings: Settings, url: str, args: argparse.Namespace) -> None:
    from s3proxy.server import migrate_when_up

    await migrate_when_up(settings, url)
    conn = await asyncpg.connect(url)
    try:
        if args.keys_command == "create":
            if not args.sub.strip():
                raise SystemExit("s3proxy: --sub must not be empty")
            box = credentials.SecretBox(settings.jwt_secret)
            key, secret = await credentials.create(conn, box, sub=args.sub.strip(), role=args.role,
                                                   claims=_claims(args.claims), description=args.description)
            print(f"access key id      {key.access_key_id}")
            print(f"secret access key  {secret}")
            print(f"acts as            {key.role} {key.sub}")
            print("(the secret is shown only now)")
        elif args.keys_command == "list":
            rows = await credentials.list_all(conn)
            print(f"{'access key id':<22}{'role':<15}{'sub':<38}{'created':<22}{'revoked':<22}description")
            for key in rows:
                created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
                revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if key.revoked_at else "-"
                print(f"{key.access_key_id:<22}{key.role:<15}{key.sub:<38}{created:<22}{revoked:<22}"
                      f"{key.description}")
        elif args.keys_command == "revoke":
            if not await credentials.revoke(conn, args.access_key_id):
                raise SystemExit(f"s3proxy: no active key {args.access_key_id}")
            print(f"revoked {args.access_key_id} (servers refuse it within {credentials.CACHE_SECONDS:g} s)")
    finally:
        await conn.close()


def run(settings: Settings, args: argparse.Namespace) -> None:
    from s3proxy.datadir import fill_secrets
    from s3proxy.server import database_url

    settings = fill_secrets(settings, create=False, need=("jwt",))
    asyncio.run(_run(settings, database_url(settings), args))
