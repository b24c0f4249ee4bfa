"""Who an S3 request runs as: SigV4 (auth/sigv4.py) plus the credential modes of
reference §7.2.

- static key pair, no session token → service_role (RLS bypassed, owner NULL);
- session token (a user JWT) signed with the static pair, or with access key =
  TENANT_ID and secret = the anon key → the token's role and sub, so RLS applies
  exactly as for a REST call with the same JWT.
"""

from __future__ import annotations

from collections.abc import Iterable

from s3proxy import errors
from s3proxy.auth.jwt import InvalidToken
from s3proxy.auth.principal import Principal
from s3proxy.auth.sigv4 import AuthResult, SignedRequest, check_signature, parse_auth
from s3proxy.storage.context import Storage


def _secret_for(store: Storage, access_key_id: str, session_token: str | None) -> str | None:
    settings = store.settings
    if settings.s3_protocol_access_key_id and settings.s3_protocol_access_key_secret \
            and access_key_id == settings.s3_protocol_access_key_id:
        return settings.s3_protocol_access_key_secret
    if session_token and settings.anon_key and access_key_id == settings.tenant_id:
        return settings.anon_key
    return None


def principal_for(store: Storage, session_token: str | None) -> Principal:
    settings = store.settings
    if not session_token:
        return Principal.service(settings.db_service_role, jwt=settings.service_key or "")
    try:
        return store.keys.principal(session_token)
    except InvalidToken as exc:
        if "exp" in str(exc):
            raise errors.ExpiredToken("The provided token has expired.") from exc
        raise errors.InvalidJWT("The provided token is malformed or otherwise invalid.") from exc


def authenticate(store: Storage, method: str, raw_path: str, raw_query: str,
                 header_pairs: Iterable[tuple[str, str]]) -> tuple[Principal, AuthResult]:
    """Verify the request's signature; the Principal it runs as and what the body
    decoder needs (seed signature, signing key, declared payload hash)."""
    req = SignedRequest.from_parts(method, raw_path, raw_query, header_pairs)
    parsed = parse_auth(req)
    secret = _secret_for(store, parsed.access_key_id, parsed.session_token)
    if secret is None:
        raise errors.InvalidAccessKeyId()
    result = check_signature(req, parsed, secret, prefix=store.settings.s3_protocol_prefix)
    return principal_for(store, parsed.session_token), result
