"""What every storage operation gets: the process-wide parts and who is calling."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import asyncpg

from s3proxy.auth.jwt import JwtKeys
from s3proxy.auth.principal import Principal
from s3proxy.backends.base import Backend
from s3proxy.config import Settings
from s3proxy.db.scope import Database, RequestInfo


@dataclass
class Storage:
    """The process-wide parts, built once at start-up."""

    settings: Settings
    db: Database
    backend: Backend
    keys: JwtKeys

    def data_key(self, bucket: str, name: str, version: str | None) -> str:
        """Reference layout: `{tenant}/{bucket}/{name}/{version}` in one upstream bucket."""
        base = f"{self.settings.tenant_id}/{bucket}/{name}"
        return f"{base}/{version}" if version else base

    async def close(self) -> None:
        await self.backend.close()
        await self.db.close()


@dataclass(frozen=True)
class Ctx:
    """One request's view: the Storage, the Principal, and the HTTP facts for GUCs."""

    store: Storage
    principal: Principal
    request: RequestInfo = field(default_factory=RequestInfo)

    @property
    def settings(self) -> Settings:
        return self.store.settings

    def user(self, operation: str, *, rollback: bool = False) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction as the caller: RLS decides."""
        return self.store.db.transaction(self.principal, operation, self.request, rollback=rollback)

    def service(self, operation: str) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction as service_role: for lookups and writes the caller was already cleared for."""
        return self.store.db.transaction(
            Principal.service(self.settings.db_service_role), operation, self.request
        )

    async def lookup(self, operation: str, function: str, *args: object, as_service: bool = False,
                     columns: str = "*") -> asyncpg.Record | None:
        """One row from a `storage.s3proxy_*` function in one round trip, as the caller
        (RLS decides) or, with `as_service`, as service_role (see `Database.fetch_one`)."""
        principal = Principal.service(self.settings.db_service_role) if as_service else self.principal
        return await self.store.db.fetch_one(principal, operation, self.request, function, *args, columns=columns)

    def as_service(self) -> Ctx:
        return Ctx(self.store, Principal.service(self.settings.db_service_role), self.request)
