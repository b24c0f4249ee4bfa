"""Signed URL tokens (reference §6): JWTs that stand in for a caller's rights on one
object, for downloads (`scope: download`) and uploads (`scope: upload`).

Tokens are signed and verified with the deployment's JWT keys (`JwtKeys.sign` /
`JwtKeys.verify`), so a token expires exactly like a user JWT: the verifier rejects
an expired `exp`, which the reference reports as InvalidJWT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from s3proxy import errors
from s3proxy.auth.jwt import InvalidToken, JwtKeys
from s3proxy.auth.principal import Principal
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.context import Ctx
from s3proxy.storage.limits import validate_key
from s3proxy.storage.objects import find_object, probe_write

Scope = Literal["download", "upload"]

# JavaScript's Number.MAX_SAFE_INTEGER / 1000: the latest `exp` the reference accepts
_MAX_EXP = (2**53 - 1) // 1000


def parse_expires_in(value: Any) -> int:
    """`expiresIn` as seconds: an integer ≥ 1 (clients such as storage3 send it as a
    numeric string) whose expiry still fits a JavaScript number; InvalidParameter otherwise."""
    if isinstance(value, bool):
        raise errors.InvalidParameter("Invalid Parameter expiresIn")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise errors.InvalidParameter("Invalid Parameter expiresIn")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 1 or int(time.time()) + value > _MAX_EXP:
        raise errors.InvalidParameter("Invalid Parameter expiresIn")
    return value


def object_url(bucket_id: str, name: str) -> str:
    """The `url` claim: `<bucket>/<key>`, the key as stored (not percent-encoded)."""
    return f"{bucket_id}/{name}"


def sign_download(keys: JwtKeys, bucket_id: str, name: str, expires_in: int, *,
                  transformations: str | None = None, image_format: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"url": object_url(bucket_id, name), "scope": "download",
                              "iat": now, "exp": now + expires_in}
    if transformations:
        claims["transformations"] = transformations
    if image_format:
        claims["format"] = image_format
    return keys.sign(claims)


def sign_upload(keys: JwtKeys, bucket_id: str, name: str, *, owner: str | None, upsert: bool,
                expires_in: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"url": object_url(bucket_id, name), "upsert": upsert, "scope": "upload",
                              "iat": now, "exp": now + expires_in}
    if owner is not None:
        claims["owner"] = owner
    return keys.sign(claims)


@dataclass(frozen=True)
class SignedClaims:
    """A verified token: what it grants and until when."""

    bucket_id: str
    name: str
    expires_at: int | None
    owner: str | None
    upsert: bool
    claims: dict[str, Any]


def _scoped(claims: dict[str, Any], scope: Scope) -> bool:
    """Reference §6 step 2, including legacy tokens without `scope` (told apart by `upsert`)."""
    if "scope" in claims:
        return claims["scope"] == scope
    has_upsert = "upsert" in claims
    return has_upsert if scope == "upload" else not has_upsert


def verify(keys: JwtKeys, token: str | None, scope: Scope, bucket_id: str, name: str) -> SignedClaims:
    """Check a signed-URL token for `scope` on bucket/name (reference §6 steps 1–4)."""
    if not token:
        raise errors.InvalidJWT("Missing token")
    try:
        claims = keys.verify(token)
    except InvalidToken as exc:
        raise errors.InvalidJWT(str(exc)) from exc
    if not _scoped(claims, scope):
        raise errors.InvalidSignature(f"Token is not scoped for {scope}")
    url = claims.get("url")
    if not isinstance(url, str) or url != object_url(bucket_id, name):
        raise errors.InvalidSignature("The url do not match the signature")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        raise errors.ExpiredToken()
    owner = claims.get("owner")
    return SignedClaims(
        bucket_id=bucket_id,
        name=name,
        expires_at=int(exp) if isinstance(exp, int | float) else None,
        owner=str(owner) if owner not in (None, "") else None,
        upsert=bool(claims.get("upsert", False)),
        claims=claims,
    )


# --- operations that issue tokens ---------------------------------------------------


async def sign_object(ctx: Ctx, bucket_id: str, name: str, expires_in: int, *,
                      transformations: str | None = None, image_format: str | None = None) -> str:
    """A download token for an object the caller can see (RLS SELECT); NoSuchKey otherwise.
    `transformations` / `image_format` become the claims a render URL is served from."""
    await find_object(ctx, bucket_id, name, mode="user")
    return sign_download(ctx.store.keys, bucket_id, name, expires_in, transformations=transformations,
                         image_format=image_format)


async def sign_objects(ctx: Ctx, bucket_id: str, names: list[str], expires_in: int) -> list[str | None]:
    """Download tokens for many names, in order; None where the caller sees no object."""
    async with ctx.user() as conn:
        rows = await conn.fetch(
            "SELECT name FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2::text[])", bucket_id, names
        )
    visible = {r["name"] for r in rows}
    return [sign_download(ctx.store.keys, bucket_id, n, expires_in) if n in visible else None for n in names]


async def sign_upload_for(ctx: Ctx, bucket_id: str, name: str, *, upsert: bool, content_type: str,
                          size: int | None, user_metadata: dict[str, Any] | None) -> str:
    """An upload token, after the same RLS probe a direct upload would run as the caller."""
    validate_key(name)
    await find_bucket_as_service(ctx, bucket_id)
    await probe_write(ctx, bucket_id, name, upsert=upsert, mimetype=content_type, size=size,
                      user_metadata=user_metadata)
    return sign_upload(ctx.store.keys, bucket_id, name, owner=ctx.principal.sub, upsert=upsert,
                       expires_in=ctx.settings.upload_signed_url_expiration)


def signed_principal(service_role: str, grant: SignedClaims) -> Principal:
    """Who a signed-URL request runs as: service scope (the token stands in for the
    signer's rights), owned by whoever signed an upload."""
    claims: dict[str, Any] = {"role": service_role}
    if grant.owner:
        claims["sub"] = grant.owner
    return Principal(role=service_role, claims=claims)
