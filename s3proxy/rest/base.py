"""The base class of every REST handler: authentication, JSON in and out, errors.

Handlers stay thin: read the request, call one storage operation, write the answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.httputil
import tornado.web

from s3proxy.auth.jwt import InvalidToken
from s3proxy.auth.principal import Principal
from s3proxy.db.scope import RequestInfo
from s3proxy.rest.errors import envelope, rest_body, rest_status
from s3proxy.storage.context import Ctx, Storage
from s3proxy.storage.errors import StorageError

log = logging.getLogger("s3proxy.rest")

MAX_JSON_BODY = 1024 * 1024


def missing_header(name: str) -> StorageError:
    return StorageError("InvalidRequest", f"headers must have required property '{name}'", rest_error="Error")


class RestHandler(tornado.web.RequestHandler):
    """Shared plumbing; subclasses implement get/post/put/delete/head."""

    @property
    def store(self) -> Storage:
        return self.application.settings["storage"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def check_xsrf_cookie(self) -> None:  # API server: no cookies, no XSRF
        return

    # --- identity -------------------------------------------------------------

    def bearer_token(self) -> str | None:
        header = self.request.headers.get("Authorization")
        if header is None:
            return None
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return header.strip()

    def authenticate(self, *, optional: bool = False) -> Principal:
        """The caller from `Authorization: Bearer`. With `optional`, a missing or bad
        token means anon (reference: the allowInvalidJwt routes)."""
        token = self.bearer_token()
        if token is None:
            if optional:
                return Principal.anonymous(self.store.settings.db_anon_role)
            raise missing_header("authorization")
        try:
            return self.store.keys.principal(token)
        except InvalidToken as exc:
            if optional:
                return Principal.anonymous(self.store.settings.db_anon_role)
            raise StorageError("AccessDenied", str(exc)) from exc

    def require_service_role(self, principal: Principal) -> None:
        if principal.role != self.store.settings.db_service_role:
            raise StorageError("AccessDenied", "Access denied: Invalid role", http_status=403)

    def ctx(self, principal: Principal) -> Ctx:
        return Ctx(self.store, principal, self.request_info())

    def request_info(self) -> RequestInfo:
        return RequestInfo(
            method=self.request.method or "",
            path=self.request.uri or "",
            headers={k.lower(): v for k, v in self.request.headers.get_all()},
        )

    # --- JSON -----------------------------------------------------------------

    def json_body(self, *, required: bool = True) -> dict[str, Any]:
        """The request body as a JSON object; empty means `{}` unless `required`."""
        raw = self.request.body or b""
        if len(raw) > MAX_JSON_BODY:
            raise StorageError("EntityTooLarge", "Request body is too large", status=413)
        if not raw.strip():
            if required:
                raise StorageError("InvalidRequest", "body must be object")
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StorageError("InvalidRequest", f"Body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise StorageError("InvalidRequest", "body must be object")
        return data

    def send_json(self, data: Any, status: int = 200) -> None:
        self.send_json_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False), status)

    def send_json_text(self, text: str, status: int = 200) -> None:
        """Send JSON already rendered as text."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(text)

    # --- errors ---------------------------------------------------------------

    def send_storage_error(self, error: StorageError) -> None:
        self.clear()
        self.clear_header("Server")
        self.set_status(rest_status(error))
        if self.request.method == "HEAD":
            self.finish()
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(rest_body(error), separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, StorageError):
            self.send_storage_error(exc)
            return
        if isinstance(exc, tornado.httputil.HTTPInputError):
            self.send_storage_error(StorageError("InvalidRequest", str(exc)))
            return
        if isinstance(exc, tornado.web.HTTPError) and exc.status_code < 500:
            self.set_status(exc.status_code)
            reason = exc.log_message or self._reason
            body = envelope(exc.status_code, self._reason, reason, "InvalidRequest")
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps(body))
            return
        self.set_status(500)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(envelope(500, "Internal", "Internal Server Error", "InternalError")))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StorageError):
            if value.status >= 500:
                log.warning("%s %s -> %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


class NotFoundHandler(RestHandler):
    """Unknown routes: HTTP 404 with the reference's JSON body."""

    def prepare(self) -> None:
        method = self.request.method
        message = f"Route {method}:{self.request.path} not found"
        self.set_status(404)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(envelope(404, "Not Found", message, "InvalidRequest")))
