"""What every storage operation gets: the process-wide parts and who is calling."""

from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace

import asyncpg

from s3proxy.auth.credentials import CredentialStore
from s3proxy.auth.jwt import JwtKeys
from s3proxy.auth.principal import Principal
from s3proxy.backends.base import Backend
from s3proxy.config import Settings
from s3proxy.db.scope import Database, RequestInfo

MAX_DATA_KEY = 1024  # S3's longest key, in bytes
VERSION_SUFFIX = 37  # "/" and a UUID


@dataclass
class Storage:
    """The process-wide parts, built once at start-up."""

    settings: Settings
    db: Database
    backend: Backend
    keys: JwtKeys
    credentials: CredentialStore  # users' S3 access keys (auth/credentials.py)

    def data_key(self, bucket: str, name: str, version: str | None) -> str:
        """Reference layout: `{tenant}/{bucket}/{name}/{version}` in one upstream bucket.

        Names an S3 upstream cannot hold under that layout (the whole key past S3's
        1,024 bytes, or a backslash, which SeaweedFS reads as a path separator) go to
        `{tenant}/{bucket}/.long/{sha256 of the name}/{version}` instead, so every key the
        API accepts can be stored. The version is random, so the two layouts never collide."""
        base = f"{self.settings.tenant_id}/{bucket}/{name}"
        if not version:  # a legacy row (Supabase before versions): the key as it was written
            return base
        if "\\" in name or len(base.encode()) + VERSION_SUFFIX > MAX_DATA_KEY:
            base = f"{self.settings.tenant_id}/{bucket}/.long/{hashlib.sha256(name.encode()).hexdigest()}"
        return f"{base}/{version}"

    async def close(self) -> None:
        await self.backend.close()
        await self.db.close()


@dataclass(frozen=True)
class Ctx:
    """One request's view: the Storage, who is calling, what operation they asked for
    (the `storage.operation` RLS policies read, e.g. `storage.object.upload`), and the
    HTTP facts the policies' GUCs carry."""

    store: Storage
    principal: Principal
    operation: str
    request: RequestInfo = field(default_factory=RequestInfo)

    @property
    def settings(self) -> Settings:
        return self.store.settings

    def user(self, *, rollback: bool = False) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction as the caller: RLS decides."""
        return self.store.db.transaction(self.principal, self.operation, self.request, rollback=rollback)

    def service(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction as service_role: for lookups and writes the caller was already cleared for."""
        return self.store.db.transaction(self._service_principal(), self.operation, self.request)

    async def lookup(self, function: str, *args: object, as_service: bool = False,
                     columns: str = "*") -> asyncpg.Record | None:
        """One row from a `storage.s3proxy_*` function in one round trip, as the caller
        (RLS decides) or, with `as_service`, as service_role (see `Database.fetch_one`)."""
        principal = self._service_principal() if as_service else self.principal
        return await self.store.db.fetch_one(principal, self.operation, self.request, function, *args,
                                             columns=columns)

    def as_service(self) -> Ctx:
        return replace(self, principal=self._service_principal())

    def as_principal(self, principal: Principal) -> Ctx:
        return replace(self, principal=principal)

    @property
    def is_service(self) -> bool:
        """Does the caller bypass RLS (service_role)?"""
        return self.principal.role == self.settings.db_service_role

    def _service_principal(self) -> Principal:
        return Principal.service(self.settings.db_service_role)
