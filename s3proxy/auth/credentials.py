"""S3 access keys that belong to a user: created by `s3proxy keys create`, kept in
`storage.s3proxy_credentials` (migration 0007), looked up by the S3 handler.

A request signed with one runs as the key's user: role, sub and claims as a JWT of that
user would carry them, so RLS policies (`auth.uid()`, `auth.jwt()`) decide exactly as
for the user's REST calls. The static key pair (S3_PROTOCOL_ACCESS_KEY_ID) stays the
admin key (service_role).

Secrets: verifying a signature needs the secret itself, so it cannot be hashed like a
password. It is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the
server's AUTH_JWT_SECRET, with the access key id as associated data, so a database
reader (a dump, a replica, a role that can read the table) holds ciphertext it cannot
sign with, and cannot move one key's secret to another key id. `cryptography` comes
with pyjwt[crypto], already a dependency. Rotating AUTH_JWT_SECRET makes the stored
secrets unreadable: such keys stop working (InvalidAccessKeyId) and must be re-created.

Lookups are cached per worker for CACHE_SECONDS (unknown keys too, so a client with a
wrong key id costs one query per few seconds), which bounds how long a revoked key
keeps working.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3proxy.auth.jwt import JwtKeys
from s3proxy.auth.principal import Principal

CACHE_SECONDS = 5.0
CACHE_SIZE = 4096
TOKEN_SECONDS = 300  # lifetime of the JWT minted for `request.jwt` (re-minted with the cache)
KEY_ID_PREFIX = "SPK"  # access key ids look like AWS's: 20 upper-case letters and digits
_SEAL_VERSION = "v1"
_HKDF_INFO = b"s3proxy s3 credential secrets v1"

_COLUMNS = "access_key_id, sub, role, claims, description, created_at, revoked_at"


@dataclass(frozen=True)
class Credential:
    """A user's key as listed (never with its secret)."""

    access_key_id: str
    sub: str
    role: str
    claims: Mapping[str, Any]
    description: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Credential:
        claims = row["claims"]
        if isinstance(claims, str):  # a connection without the jsonb codec
            claims = json.loads(claims)
        return cls(row["access_key_id"], row["sub"], row["role"], claims or {}, row["description"],
                   row["created_at"], row["revoked_at"])


class SecretBox:
    """Seals and opens credential secrets with a key derived from the server secret."""

    def __init__(self, server_secret: str) -> None:
        if not server_secret:
            raise ValueError("the server secret (AUTH_JWT_SECRET) is needed to seal S3 credentials")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(server_secret.encode())
        self._aead = AESGCM(key)

    def seal(self, access_key_id: str, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key_id.encode())
        return f"{_SEAL_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, access_key_id: str, sealed: str) -> str | None:
        """The secret, or None when it was sealed under another server secret (or altered)."""
        version, _, payload = sealed.partition(":")
        if version != _SEAL_VERSION:
            return None
        try:
            raw = base64.b64decode(payload, validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], access_key_id.encode()).decode()
        except (binascii.Error, InvalidTag, ValueError):
            return None


def new_key_pair() -> tuple[str, str]:
    """A fresh (access key id, secret): 20 characters like AWS ids, a 40-character secret."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    key_id = KEY_ID_PREFIX + "".join(secrets.choice(alphabet) for _ in range(20 - len(KEY_ID_PREFIX)))
    return key_id, secrets.token_urlsafe(30)


# --- the table, for the CLI (one connection as the login user) --------------------------


async def create(conn: asyncpg.Connection, box: SecretBox, *, sub: str, role: str = "authenticated",
                 claims: Mapping[str, Any] | None = None, description: str = "") -> tuple[Credential, str]:
    """Store a new key for `sub`; returns it and its secret (shown once, never stored in clear)."""
    key_id, secret = new_key_pair()
    row = await conn.fetchrow(
        "INSERT INTO storage.s3proxy_credentials (access_key_id, secret_encrypted, sub, role, claims, description)"
        f" VALUES ($1, $2, $3, $4, $5::text::jsonb, $6) RETURNING {_COLUMNS}",
        key_id, box.seal(key_id, secret), sub, role, json.dumps(dict(claims or {})), description)
    return Credential.from_row(row), secret


async def list_all(conn: asyncpg.Connection, *, include_revoked: bool = True) -> list[Credential]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM storage.s3proxy_credentials{where} ORDER BY created_at, "
                            "access_key_id")
    return [Credential.from_row(r) for r in rows]


async def revoke(conn: asyncpg.Connection, access_key_id: str) -> bool:
    """Revoke an active key; False when there is no such active key."""
    done = await conn.fetchval("UPDATE storage.s3proxy_credentials SET revoked_at = now() "
                               "WHERE access_key_id = $1 AND revoked_at IS NULL RETURNING access_key_id",
                               access_key_id)
    return done is not None


# --- the server's lookups --------------------------------------------------------------


@dataclass(frozen=True)
class UserKey:
    """An active key as the server uses it: the secret to verify with, who it runs as."""

    secret: str
    principal: Principal


class CredentialStore:
    """Per-worker lookups of user keys, cached for CACHE_SECONDS (revocation delay)."""

    _SQL = ("SELECT secret_encrypted, sub, role, claims FROM storage.s3proxy_credentials "
            "WHERE access_key_id = $1 AND revoked_at IS NULL")

    def __init__(self, fetch: Any, box: SecretBox, keys: JwtKeys, *, ttl: float = CACHE_SECONDS) -> None:
        """fetch: `async (sql, *args) -> Record | None`, run as the login user (the table's
        owner; no request role may read it)."""
        self._fetch = fetch
        self._box = box
        self._keys = keys
        self._ttl = ttl
        self._cache: dict[str, tuple[float, UserKey | None]] = {}

    async def find(self, access_key_id: str) -> UserKey | None:
        """The active key with this id, None for an unknown or revoked one."""
        now = time.monotonic()
        cached = self._cache.get(access_key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._load(access_key_id)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[access_key_id] = (now + self._ttl, found)
        return found

    async def _load(self, access_key_id: str) -> UserKey | None:
        if not access_key_id.startswith(KEY_ID_PREFIX) or len(access_key_id) > 128:
            return None  # not one of ours: no query
        row = await self._fetch(self._SQL, access_key_id)
        if row is None:
            return None
        secret = self._box.open(access_key_id, row["secret_encrypted"])
        if secret is None:
            return None
        stored = row["claims"]
        if isinstance(stored, str):
            stored = json.loads(stored)
        return UserKey(secret, self.principal(row["sub"], row["role"], stored or {}))

    def principal(self, sub: str, role: str, stored: Mapping[str, Any]) -> Principal:
        """The identity of a user key: the claims of a JWT of that user (the stored extra
        claims, then sub, role, iat and exp), and such a JWT for `request.jwt`."""
        now = int(time.time())
        claims = {**stored, "sub": sub, "role": role, "iat": now, "exp": now + TOKEN_SECONDS}
        return Principal(role=role, claims=claims, jwt=self._keys.encode(claims))
