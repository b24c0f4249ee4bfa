"""The identity a request runs as: a Postgres role plus the JWT claims RLS policies read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class Principal:
    role: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    jwt: str = ""
    authenticated: bool = True

    @property
    def sub(self) -> str | None:
        sub = self.claims.get("sub")
        return str(sub) if sub not in (None, "") else None

    @property
    def owner(self) -> str | None:
        """The deprecated uuid `owner` column: the sub, only when it is a UUID (reference §5.4)."""
        sub = self.sub
        return sub if sub and _UUID.match(sub) else None

    @classmethod
    def service(cls, role: str = "service_role", jwt: str = "") -> Principal:
        return cls(role=role, claims={"role": role}, jwt=jwt)

    @classmethod
    def anonymous(cls, role: str = "anon") -> Principal:
        return cls(role=role, claims={"role": role}, authenticated=False)
