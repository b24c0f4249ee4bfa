"""JWT verification and minting (HS256 secret, plus a JWKS for asymmetric keys).

Mirrors Supabase Storage (reference §5.1): the secret is raw UTF-8 bytes, `exp` is
checked when present but not required, audience and issuer are not checked, and a
missing `role` claim means `anon`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt as pyjwt

from s3proxy import errors
from s3proxy.auth.principal import Principal

_HMAC = {"HS256", "HS384", "HS512"}
_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


_CACHE_SIZE = 4096
_CACHE_SECONDS = 60.0


class InvalidToken(Exception):
    """The token is malformed, expired or wrongly signed; the message says which."""


class JwtKeys:
    """The keys this deployment trusts, and the one it signs with."""

    def __init__(self, secret: str, algorithm: str = "HS256", jwks: str | None = None, *,
                 allowed_roles: frozenset[str] | None = None) -> None:
        self.secret = secret.encode()
        self.algorithm = algorithm
        self.allowed_roles = allowed_roles  # None: any (tools that only mint tokens)
        self._jwks: list[pyjwt.PyJWK] = []
        self._signing: pyjwt.PyJWK | None = None
        self._cache: dict[str, tuple[float, Principal]] = {}
        if jwks:
            doc = json.loads(jwks)
            for key in doc.get("keys", []):
                try:
                    self._jwks.append(pyjwt.PyJWK(key))
                except pyjwt.PyJWTError:
                    continue
            if doc.get("urlSigningKey"):
                self._signing = pyjwt.PyJWK(doc["urlSigningKey"])

    def _key_for(self, token: str) -> tuple[Any, str]:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError as exc:
            raise InvalidToken("Invalid Compact JWS") from exc
        alg = header.get("alg", "")
        kid = header.get("kid")
        if alg in _HMAC:
            if alg == self.algorithm and not kid:
                return self.secret, alg
            for key in self._jwks:
                if key.key_type == "oct" and (key.key_id is None or key.key_id == kid):
                    return key.key, alg
            if alg == self.algorithm:
                return self.secret, alg
        elif alg in _ASYMMETRIC:
            for key in self._jwks:
                if key.key_type != "oct" and (key.key_id == kid or (key.key_id is None and kid is None)):
                    return key.key, alg
        raise InvalidToken(f"Unsupported or unknown signing algorithm {alg!r}")

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims, or InvalidToken."""
        key, alg = self._key_for(token)
        try:
            claims = pyjwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options={"verify_aud": False, "verify_iss": False, "require": []},
                leeway=0,
            )
        except pyjwt.ExpiredSignatureError as exc:
            raise InvalidToken('"exp" claim timestamp check failed') from exc
        except pyjwt.InvalidSignatureError as exc:
            raise InvalidToken("signature verification failed") from exc
        except pyjwt.PyJWTError as exc:
            raise InvalidToken(str(exc) or "Invalid JWT") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("Invalid JWT payload")
        return claims

    def principal(self, token: str) -> Principal:
        """The Principal of a verified token. Verified tokens are remembered until they
        expire (at most _CACHE_SECONDS), so a client reusing its token pays for the
        signature check once, not per request (Supabase's JWT_CACHING_ENABLED)."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        claims = self.verify(token)
        principal = Principal(role=str(claims.get("role") or "anon"), claims=claims, jwt=token)
        if self.allowed_roles is not None and principal.role not in self.allowed_roles:
            raise errors.InvalidRole(f"Access denied: the role {principal.role!r} may not be assumed")
        exp = claims.get("exp")
        until = now + _CACHE_SECONDS
        if isinstance(exp, int | float):
            until = min(until, float(exp))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = (until, principal)
        return principal

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims with the URL-signing key if configured, else the secret."""
        if self._signing is not None:
            alg = self._signing.algorithm_name
            return pyjwt.encode(claims, self._signing.key, algorithm=alg, headers={"kid": self._signing.key_id})
        return pyjwt.encode(claims, self.secret, algorithm=self.algorithm)

    def mint(self, role: str, *, sub: str | None = None, expires_in: int = 10 * 365 * 24 * 3600) -> str:
        """A user token such as Supabase's anon and service keys."""
        now = int(time.time())
        claims: dict[str, Any] = {"role": role, "iat": now, "exp": now + expires_in}
        if sub:
            claims["sub"] = sub
        return self.encode(claims)

    def encode(self, claims: dict[str, Any]) -> str:
        """A token of these claims signed with the secret, as this server's own tokens are."""
        alg = self.algorithm if self.algorithm in _HMAC else "HS256"
        return pyjwt.encode(claims, self.secret, algorithm=alg)
