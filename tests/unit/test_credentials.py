"""Users' S3 keys: sealed secrets, and the per-worker lookup cache (revocation delay)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jwt as pyjwt

from s3proxy.auth.credentials import KEY_ID_PREFIX, CredentialStore, SecretBox, new_key_pair
from s3proxy.auth.jwt import JwtKeys

SERVER_SECRET = "a-server-secret-that-is-long-enough-0123456789"


def test_sealed_secrets_open_only_with_the_server_secret_and_their_key_id() -> None:
    box = SecretBox(SERVER_SECRET)
    key_id, secret = new_key_pair()
    sealed = box.seal(key_id, secret)
    assert secret not in sealed and sealed.startswith("v1:")
    assert box.open(key_id, sealed) == secret
    assert box.seal(key_id, secret) != sealed  # a fresh nonce every time
    assert SecretBox(SERVER_SECRET + "x").open(key_id, sealed) is None  # another server secret
    assert box.open(KEY_ID_PREFIX + "OTHER", sealed) is None  # moved to another key id
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert box.open(key_id, tampered) is None
    assert box.open(key_id, "v0:" + sealed[3:]) is None
    assert box.open(key_id, "v1:not base64!") is None


def test_key_pairs_look_like_aws_ones() -> None:
    ids = {new_key_pair()[0] for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"SPK[A-Z2-7]{17}", i) for i in ids)
    assert len(new_key_pair()[1]) == 40


class FakeTable:
    """What the store reads: rows by key id; counts queries."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self.rows: dict[str, dict[str, Any]] = {}
        self.queries = 0

    def add(self, key_id: str, secret: str, sub: str, role: str = "authenticated", **claims: Any) -> None:
        self.rows[key_id] = {"secret_encrypted": self.box.seal(key_id, secret), "sub": sub, "role": role,
                             "claims": json.dumps(claims)}

    async def fetch(self, _sql: str, key_id: str) -> dict[str, Any] | None:
        self.queries += 1
        return self.rows.get(key_id)


def test_store_lookups_are_cached_and_expire() -> None:
    box = SecretBox(SERVER_SECRET)
    table = FakeTable(box)
    keys = JwtKeys(SERVER_SECRET)
    store = CredentialStore(table.fetch, box, keys, ttl=0.2)
    key_id, secret = new_key_pair()
    table.add(key_id, secret, "user-1", email="u@example.com")

    async def go() -> None:
        found = await store.find(key_id)
        assert found is not None and found.secret == secret
        principal = found.principal
        assert (principal.role, principal.sub, principal.claims["email"]) == ("authenticated", "user-1", "u@example.com")
        assert pyjwt.decode(principal.jwt, SERVER_SECRET, algorithms=["HS256"])["sub"] == "user-1"
        assert await store.find(key_id) is found and table.queries == 1  # cached
        # revoked: still served from the cache until it expires, then refused
        del table.rows[key_id]
        assert await store.find(key_id) is found
        await asyncio.sleep(0.25)
        assert await store.find(key_id) is None and table.queries == 2
        # unknown ids are cached too; ids that cannot be ours cost no query
        assert await store.find(key_id) is None and table.queries == 2
        assert await store.find("AKIAIOSFODNN7EXAMPLE") is None and table.queries == 2
        # a secret sealed under another server secret is no key at all
        other_id, other_secret = new_key_pair()
        table.rows[other_id] = {**table.rows.get(other_id, {}), "secret_encrypted": SecretBox("x" * 40).seal(
            other_id, other_secret), "sub": "u", "role": "authenticated", "claims": "{}"}
        assert await store.find(other_id) is None

    asyncio.run(go())
