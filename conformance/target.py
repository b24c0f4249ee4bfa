"""What the suite judges: an endpoint described by URLs and keys, nothing else.

`Target` is configuration only. `self_started` starts s3proxy itself (one Postgres,
one SeaweedFS, one s3proxy per backend) through the test rig when no target is given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def mint_jwt(secret: str, role: str, exp: int = 3600, **claims: Any) -> str:
    """An HS256 JWT signed with `secret` (stdlib only, so the suite needs no JWT library)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps({"role": role, "iat": now, "exp": now + exp, **claims},
                             separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(sig)}"


@dataclass
class Target:
    """One storage endpoint. REST and S3 parts are each optional."""

    label: str = "target"
    rest_url: str | None = None  # Supabase Storage REST base URL, normalised with a trailing slash
    s3_url: str | None = None  # S3 endpoint URL
    service_jwt: str | None = None
    anon_jwt: str | None = None
    jwt_secret: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    addressing_style: str = "path"
    # operator hooks, only where the suite runs the server itself: run SQL as the database
    # owner (RLS policies), and make a user's own S3 key (`s3proxy keys create`)
    admin_sql: Callable[[str], Any] | None = None
    make_user_key: Callable[[str], tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.rest_url and not self.rest_url.endswith("/"):
            self.rest_url += "/"
        if self.s3_url:
            self.s3_url = self.s3_url.rstrip("/")
        if self.jwt_secret and not self.service_jwt:
            self.service_jwt = mint_jwt(self.jwt_secret, "service_role", exp=24 * 3600)
        if self.jwt_secret and not self.anon_jwt:
            self.anon_jwt = mint_jwt(self.jwt_secret, "anon", exp=24 * 3600)

    @property
    def has_rest(self) -> bool:
        return bool(self.rest_url and self.service_jwt)

    @property
    def has_s3(self) -> bool:
        return bool(self.s3_url and self.access_key and self.secret_key)

    def rest_headers(self, token: str | None = None) -> dict[str, str]:
        jwt = token or self.service_jwt or ""
        return {"Authorization": f"Bearer {jwt}", "apikey": jwt}

    def describe(self) -> str:
        parts = [f"[{self.label}]"]
        if self.rest_url:
            parts.append(f"REST {self.rest_url}")
        if self.s3_url:
            parts.append(f"S3 {self.s3_url} ({self.addressing_style}-style, {self.region})")
        return "  ".join(parts)


def _import_rig() -> Any:
    repo = Path(__file__).resolve().parent.parent
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    from tests import rig

    return rig


@contextmanager
def self_started(backends: list[str]) -> Iterator[list[Target]]:
    """s3proxy on each backend (`file`, `s3`), sharing one Postgres and one SeaweedFS."""
    rig = _import_rig()
    with ExitStack() as stack:
        pg = rig.Postgres()
        stack.callback(pg.close)
        upstream = None
        if "s3" in backends:
            upstream = rig.SeaweedFS().start()
            stack.callback(upstream.close)
        targets = []
        for backend in backends:
            server = rig.Server(backend=backend, database_url=pg.new_database(f"conformance_{backend}"),
                                upstream=upstream if backend == "s3" else None)
            try:
                server.start()
            except Exception:
                print(server.log_tail(), file=sys.stderr)
                server.close()
                raise
            stack.callback(server.close)
            targets.append(Target(
                label=backend, rest_url=server.url, s3_url=server.s3_url, jwt_secret=server.jwt_secret,
                access_key=server.s3_key_id, secret_key=server.s3_secret, region=server.region,
                admin_sql=server.sql, make_user_key=server.user_key,
            ))
        yield targets
