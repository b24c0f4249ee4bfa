"""The base of every REST handler: who may call it, as what operation, and errors as JSON.

Each handler declares, per HTTP method, a `Policy`: the credentials it needs and the
`storage.operation` name RLS policies see. `begin()` applies it in one place, before a
byte of the body is read, and leaves `self.ctx` for the method; handlers whose body
streams into storage (uploads) start their operation from `start_upload()`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from s3proxy import errors
from s3proxy.auth.jwt import InvalidToken
from s3proxy.auth.principal import Principal
from s3proxy.db.scope import RequestInfo
from s3proxy.rest.errors import rest_body, rest_status
from s3proxy.storage import signing
from s3proxy.storage.context import Ctx, Storage
from s3proxy.web.handler import StreamingHandler
from s3proxy.web.inputs import parse_json

log = logging.getLogger("s3proxy.rest")

FORM_OVERHEAD = 2 * 1024 * 1024  # form fields and boundaries on top of an upload's limit
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/=+-]{1,128}")  # a caller's trace id we adopt


class Auth(Enum):
    NONE = "none"  # no credentials needed
    OPTIONAL = "optional"  # a bearer token if valid; a missing or bad one means anon
    JWT = "jwt"  # a valid bearer token
    SERVICE = "service"  # a valid bearer token for service_role
    DOWNLOAD_TOKEN = "download"  # a signed-URL token (?token=) for this object's download
    UPLOAD_TOKEN = "upload"  # a signed-URL token (?token=) for this object's upload


@dataclass(frozen=True)
class Policy:
    auth: Auth
    operation: str  # what RLS policies read as storage.operation()
    upload: bool = False  # the body streams into storage: the upload size limit applies


class RestHandler(StreamingHandler):
    """Shared plumbing; subclasses declare `policies` and implement the HTTP methods."""

    protocol = "rest"
    policies: ClassVar[Mapping[str, Policy]] = {}
    ctx: Ctx
    grant: signing.SignedClaims | None = None  # the verified token of a signed-URL request

    @property
    def store(self) -> Storage:
        return self.application.settings["storage"]  # type: ignore[no-any-return]

    def new_request_id(self) -> str:
        """The caller's id from the trace header when it looks like one (a gateway's), so
        its logs and ours name the request alike; else a fresh one."""
        given = self.request.headers.get(self.request_id_header(), "")
        return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    def request_id_header(self) -> str:
        return self.store.settings.request_id_header

    # --- who is calling --------------------------------------------------------------

    async def begin(self) -> None:
        policy = self.policies.get(self.request.method or "")
        if policy is None:
            raise errors.MethodNotAllowed(f"Route {self.request.method}:{self.request.path} not found")
        self.operation = policy.operation
        self.bucket, self.key = self.path_kwargs.get("bucket_id"), self.path_kwargs.get("key")
        if policy.upload:
            self.limit_body(self.store.settings.upload_file_size_limit + FORM_OVERHEAD)
        else:
            self.limit_body(self.max_body, errors.BodyTooLarge)
        principal = self.authenticate(policy.auth)
        self.ctx = Ctx(self.store, principal, policy.operation, self.request_info())
        if policy.upload:
            self.start_upload()

    def start_upload(self) -> None:
        """Upload handlers: `self.consume(...)` the body into storage."""
        raise NotImplementedError

    def authenticate(self, auth: Auth) -> Principal:
        settings = self.store.settings
        if auth is Auth.NONE:
            return Principal.anonymous(settings.db_anon_role)
        if auth in (Auth.DOWNLOAD_TOKEN, Auth.UPLOAD_TOKEN):
            return self._signed(auth)
        token = self.bearer_token()
        if token is None:
            if auth is Auth.OPTIONAL:
                return Principal.anonymous(settings.db_anon_role)
            raise errors.MissingHeader("headers must have required property 'authorization'")
        try:
            principal = self.store.keys.principal(token)
        except InvalidToken as exc:
            if auth is Auth.OPTIONAL:
                return Principal.anonymous(settings.db_anon_role)
            raise errors.AccessDenied(str(exc)) from exc
        if auth is Auth.SERVICE and principal.role != settings.db_service_role:
            raise errors.InvalidRole()
        return principal

    def _signed(self, auth: Auth) -> Principal:
        """A signed-URL request runs as service_role, for the object its token names (an
        upload owned by whoever signed it)."""
        kwargs = self.path_kwargs
        scope: signing.Scope = "download" if auth is Auth.DOWNLOAD_TOKEN else "upload"
        grant = signing.verify(self.store.keys, self.get_query_argument("token", None), scope,
                               kwargs["bucket_id"], kwargs["key"])
        self.grant = grant
        return signing.signed_principal(self.store.settings.db_service_role, grant)

    def bearer_token(self) -> str | None:
        header = self.request.headers.get("Authorization")
        if header is None:
            return None
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return header.strip()

    def request_info(self) -> RequestInfo:
        return RequestInfo(
            method=self.request.method or "",
            path=self.request.uri or "",
            headers={k.lower(): v for k, v in self.request.headers.get_all()},
        )

    # --- JSON ------------------------------------------------------------------------

    def json_body(self, *, required: bool = True) -> dict[str, Any]:
        """The request body as a JSON object; empty means `{}` unless `required`."""
        raw = self.body
        if not raw.strip():
            if required:
                raise errors.InvalidRequest("body must be object")
            return {}
        data = parse_json(raw, "body")
        if not isinstance(data, dict):
            raise errors.InvalidRequest("body must be object")
        return data

    def send_json(self, data: Any, status: int = 200) -> None:
        self.send_json_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False), status)

    def send_json_text(self, text: str, status: int = 200) -> None:
        """Send JSON already rendered as text."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(text)

    # --- errors ----------------------------------------------------------------------

    def render_error(self, error: errors.Error) -> bytes:
        self.set_status(rest_status(error))
        body = rest_body(error)
        self.error_code, self.error_status = body["code"], int(body["statusCode"])
        if self.get_status() >= 500 and not isinstance(error, errors.SlowDown):  # as the S3 side logs them
            log.warning("%s %s -> %s", self.request.method, self.request.path, error)
        if self.request.method == "HEAD":
            return b""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class NotFoundHandler(RestHandler):
    """Unknown routes: HTTP 404 with the reference's JSON body, without reading a byte of
    whatever body came with them."""

    drain_limit = 0

    async def begin(self) -> None:
        raise errors.RouteNotFound(f"Route {self.request.method}:{self.request.path} not found")
