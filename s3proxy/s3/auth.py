"""Who an S3 request runs as: the signature (SigV4, SigV2 or none) and the credential
modes of reference §7.2, plus users' own keys.

- the static key pair (S3_PROTOCOL_ACCESS_KEY_ID), no session token → service_role
  (RLS bypassed, owner NULL): the admin key;
- a session token (a user JWT) signed with the static pair, or with access key =
  TENANT_ID and secret = the anon key → the token's role and sub;
- a user's key (`s3proxy keys create`, auth/credentials.py) → that user's role, sub and
  claims. The last two are RLS exactly as for a REST call with the user's JWT;
- no signature at all → anonymous: the handler allows reads of public buckets only
  (s3/anonymous.py).

SigV2 is verified as strictly as SigV4 (auth/sigv2.py). It does not sign the payload,
so the body decoder gets no signing key, only the headers (a presigned v2 URL carries
its signed Content-Type, Content-MD5 and x-amz-* values in the query: they count as
the request's headers, so Content-MD5 is verified and the metadata stored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from s3proxy import errors
from s3proxy.auth import sigv2, sigv4
from s3proxy.auth.jwt import InvalidToken
from s3proxy.auth.principal import Principal
from s3proxy.auth.sigv2 import Scheme
from s3proxy.auth.sigv4 import AuthResult, SignedRequest
from s3proxy.storage.context import Storage


@dataclass(frozen=True)
class Caller:
    principal: Principal
    headers: dict[str, str]  # lower-case names; with a presigned v2 URL's signed values
    body_auth: AuthResult | None = None  # SigV4: what the body decoder verifies chunks with
    anonymous: bool = False


def session_principal(store: Storage, session_token: str) -> Principal:
    """The identity of a verified session token (a user JWT)."""
    try:
        return store.keys.principal(session_token)
    except InvalidToken as exc:
        if "exp" in str(exc):
            raise errors.ExpiredToken("The provided token has expired.") from exc
        raise errors.InvalidJWT("The provided token is malformed or otherwise invalid.") from exc


async def identity(store: Storage, access_key_id: str,
                   session_token: str | None) -> tuple[str, Callable[[], Principal]]:
    """The secret to verify with, and (to call once the signature holds) who the request
    runs as. Unknown key → InvalidAccessKeyId."""
    settings = store.settings
    if settings.s3_protocol_access_key_id and settings.s3_protocol_access_key_secret \
            and access_key_id == settings.s3_protocol_access_key_id:
        if session_token:
            return settings.s3_protocol_access_key_secret, lambda: session_principal(store, session_token)
        return settings.s3_protocol_access_key_secret, lambda: Principal.service(
            settings.db_service_role, jwt=settings.service_key or "")
    if session_token and settings.anon_key and access_key_id == settings.tenant_id:
        return settings.anon_key, lambda: session_principal(store, session_token)
    found = await store.credentials.find(access_key_id)
    if found is None:
        raise errors.InvalidAccessKeyId()
    if session_token:
        raise errors.InvalidJWT("A session token cannot be used with a user's own access key.")
    return found.secret, lambda: found.principal


async def authenticate(store: Storage, method: str, raw_path: str, raw_query: str,
                       header_pairs: Iterable[tuple[str, str]], *, route_prefix: str = "",
                       virtual_bucket: str | None = None) -> Caller:
    """Verify the request's signature, whichever kind it carries; who it runs as.

    route_prefix: where the S3 routes are mounted ('/s3' or ''); virtual_bucket: the
    bucket a virtual-host style Host names (both shape SigV2's canonical resource)."""
    pairs = list(header_pairs)
    headers = {k.lower(): v for k, v in pairs}
    req = SignedRequest.from_parts(method, raw_path, raw_query, pairs)
    scheme = sigv2.auth_scheme(req)
    if scheme is Scheme.ANONYMOUS:
        return Caller(Principal.anonymous(store.settings.db_anon_role), headers, anonymous=True)
    if scheme is Scheme.SIGV2:
        parsed2 = sigv2.parse_auth(req)
        secret, principal = await identity(store, parsed2.access_key_id, parsed2.session_token)
        result2 = sigv2.check_signature(req, parsed2, secret, route_prefix=route_prefix,
                                        virtual_bucket=virtual_bucket)
        return Caller(principal(), result2.effective_headers(headers))
    parsed = sigv4.parse_auth(req)
    secret, principal = await identity(store, parsed.access_key_id, parsed.session_token)
    result = sigv4.check_signature(req, parsed, secret, prefix=store.settings.s3_protocol_prefix)
    return Caller(principal(), headers, body_auth=result)
