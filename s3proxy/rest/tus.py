"""`/upload/resumable`: TUS 1.0.0 resumable uploads (reference §2.5), and
`/upload/resumable/sign` with a signed upload token in `x-signature`.

Authentication is the REST one (a JWT on every request but OPTIONS; the signed variant
runs in service scope, owner and upsert from the token) and its failures answer in the
REST JSON format; everything after it answers as TUS does, in plain text with the real
status. Bodies (creation-with-upload, PATCH) stream into storage/tus.py as they arrive.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from s3proxy import errors
from s3proxy.auth.principal import Principal
from s3proxy.rest import tus_wire
from s3proxy.rest.base import Auth, RestHandler
from s3proxy.rest.errors import rest_body, wire
from s3proxy.rest.params import header_true
from s3proxy.storage import signing, tus
from s3proxy.storage.context import Ctx
from s3proxy.storage.tus import NewUpload, Status, UploadRef
from s3proxy.web.channel import BodyChannel

OPERATIONS = {"POST": "storage.tus.upload.create", "PATCH": "storage.tus.upload.part",
              "HEAD": "storage.tus.upload.get", "DELETE": "storage.tus.upload.delete"}


class TusHandler(RestHandler):
    """One handler for the collection (`/upload/resumable[/sign]`, POST creates) and for
    uploads (`.../<id>`: HEAD, PATCH, DELETE); OPTIONS on either."""

    signed = False
    _method = ""
    _tus_errors = False  # past authentication: errors are TUS's plain text
    _streaming = False
    _new: NewUpload | None = None
    _ref: UploadRef | None = None

    def initialize(self, signed: bool = False) -> None:
        self.signed = signed

    # --- before the body ------------------------------------------------------------------

    async def begin(self) -> None:
        method = self.request.method or ""
        override = (self.request.headers.get("X-HTTP-Method-Override") or "").upper()
        if method == "POST" and override in ("PATCH", "DELETE"):  # clients that cannot send them
            method = override
        self._method = method
        if method == "OPTIONS":
            self._tus_errors = True
            return
        upload_id = self.path_kwargs.get("upload_id")
        if method not in OPERATIONS or (method == "POST") != (upload_id is None):
            raise errors.MethodNotAllowed(f"Route {self.request.method}:{self.request.path} not found")
        operation = OPERATIONS[method] + ("_signed" if self.signed else "")
        headers = self.request.headers
        principal = None if self.signed else self.authenticate(Auth.JWT)  # first, as the reference
        self._tus_errors = True
        if upload_id is None:
            self._new = tus_wire.new_upload(headers, upsert=header_true(headers.get("x-upsert")))
            target = (self._new.bucket_id, self._new.name)
        else:
            self._ref = tus_wire.decode_id(upload_id)
            target = (self._ref.bucket_id, self._ref.name)
        if principal is None:  # the token names the object: verified once the request names it
            self._tus_errors = False
            principal = self._signed_principal(*target)
            self._tus_errors = True
        self.ctx = Ctx(self.store, principal, operation, self.request_info())
        self.operation, (self.bucket, self.key) = operation, target
        if headers.get("Tus-Resumable") != tus_wire.TUS_VERSION:
            raise errors.PreconditionFailed("Unsupported version")
        if self.grant is not None and self._new is not None:
            self._new = replace(self._new, upsert=self.grant.upsert)
        if method in ("POST", "PATCH"):
            self._start_body(method)

    def _signed_principal(self, bucket_id: str, name: str) -> Principal:
        grant = signing.verify(self.store.keys, self.request.headers.get("x-signature"), "upload", bucket_id, name)
        self.grant = grant
        return signing.signed_principal(self.store.settings.db_service_role, grant)

    def _start_body(self, method: str) -> None:
        declared = self._declared
        has_body = declared is None or declared > 0
        if method == "POST" and not has_body:
            return
        content_type = (self.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != tus_wire.OFFSET_TYPE:
            raise errors.InvalidMimeType("Invalid or missing content-type header")
        self.max_body = self.store.settings.upload_file_size_limit
        self._streaming = True
        if method == "POST":
            assert self._new is not None
            new = self._new
            self.consume(lambda body: tus.create_upload(self.ctx, new, body, declared))
            return
        headers = self.request.headers
        offset = tus_wire.non_negative(headers.get("Upload-Offset"), "Upload-Offset")
        if offset is None:
            raise errors.InvalidRequest("Upload-Offset header required")
        length = tus_wire.non_negative(headers.get("Upload-Length"), "Upload-Length")
        ref = self._ref
        assert ref is not None

        def append(body: BodyChannel) -> Any:
            return tus.append(self.ctx, ref, offset, body, declared, length)

        self.consume(append)

    # --- the methods ------------------------------------------------------------------------

    async def options(self, upload_id: str | None = None) -> None:
        self.set_status(204)
        self.set_header("Tus-Resumable", tus_wire.TUS_VERSION)
        self.set_header("Tus-Version", tus_wire.TUS_VERSION)
        self.set_header("Tus-Extension", tus_wire.EXTENSIONS)
        self.set_header("Tus-Max-Size", str(self.store.settings.upload_file_size_limit))
        self.finish()

    async def post(self, upload_id: str | None = None) -> None:
        if self._method == "PATCH":
            await self.patch(upload_id)
            return
        if self._method == "DELETE":
            await self.delete(upload_id)
            return
        assert self._new is not None
        if self._streaming:
            status: Status = await self.outcome()
        else:
            status = await tus.create_upload(self.ctx, self._new, None, 0)
        self.set_status(201)
        self.set_header("Location", self._location(status.ref))
        self._progress(status, offset=self._streaming or status.completed)
        self.finish()

    async def patch(self, upload_id: str | None = None) -> None:
        status: Status = await self.outcome()
        self.set_status(204)
        self._progress(status, offset=True)
        self.finish()

    async def head(self, upload_id: str | None = None) -> None:
        assert self._ref is not None
        status = await tus.upload_status(self.ctx, self._ref)
        self.set_status(200)
        self._progress(status, offset=True)
        if status.length is None:
            self.set_header("Upload-Defer-Length", "1")
        else:
            self.set_header("Upload-Length", str(status.length))
        if status.tus_metadata:
            self.set_header("Upload-Metadata", status.tus_metadata)
        self.set_header("Cache-Control", "no-store")
        self.finish()

    async def delete(self, upload_id: str | None = None) -> None:
        assert self._ref is not None
        await tus.terminate(self.ctx, self._ref)
        self.set_status(204)
        self.set_header("Tus-Resumable", tus_wire.TUS_VERSION)
        self.finish()

    def _progress(self, status: Status, *, offset: bool) -> None:
        self.set_header("Tus-Resumable", tus_wire.TUS_VERSION)
        if offset:
            self.set_header("Upload-Offset", str(status.offset))
        if status.expires_at is not None:
            self.set_header("Upload-Expires", tus_wire.http_date(status.expires_at))
        if status.info is not None:
            self.set_header("Tus-Complete", "1")

    def _location(self, ref: UploadRef) -> str:
        base = tus_wire.base_url(self.store.settings, self.request.protocol, self.request.host,
                                 self.request.path, self.request.headers)
        route = tus_wire.ROUTE + ("/sign" if self.signed else "")
        return f"{base}{route}/{tus_wire.encode_id(ref.bucket_id, ref.name, ref.upload_id)}"

    # --- errors -----------------------------------------------------------------------------

    def render_error(self, error: errors.Error) -> bytes:
        """Authentication failures as REST JSON; TUS's own as plain text, real status."""
        if not self._tus_errors:
            return super().render_error(error)
        entry = wire(error)
        message = rest_body(error)["message"]
        if isinstance(error, errors.EntityTooLarge) and message == errors.EntityTooLarge.default_message:
            message = tus.TOO_LARGE
        self.set_status(entry.status)
        self.set_header("Tus-Resumable", tus_wire.TUS_VERSION)
        if isinstance(error, errors.PreconditionFailed):
            self.set_header("Tus-Version", tus_wire.TUS_VERSION)
        if self.request.method == "HEAD" or entry.status in (204, 304):
            return b""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        return message.encode()
