"""The one tornado handler of the S3 protocol: route, authenticate, run, render.

Everything tornado-specific lives here. From the request's headers `begin()` finds
the operation (routing.py), authenticates the caller (auth.py) and starts the
operation at once, with the body as a verified stream that `web/handler.py` feeds as
it arrives; once the body is in, the operation's S3Response is written out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote

import tornado.httputil
from tornado.iostream import StreamClosedError

from s3proxy import errors
from s3proxy.auth.chunked import RequestBody
from s3proxy.auth.principal import Principal
from s3proxy.cors import CorsRule
from s3proxy.db.scope import RequestInfo
from s3proxy.s3.anonymous import anonymous_ctx
from s3proxy.s3.auth import Caller, authenticate
from s3proxy.s3.errors import s3_error
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.routing import UPLOAD, Route, body_headers, find_route, parse_target, virtual_bucket
from s3proxy.s3.xml import error_document
from s3proxy.storage import cors
from s3proxy.storage.context import Ctx, Storage
from s3proxy.web.channel import BodyChannel
from s3proxy.web.handler import StreamingHandler

log = logging.getLogger("s3proxy.s3")


class AwsHeaders(tornado.httputil.HTTPHeaders):
    """Response headers with `x-amz-*` names in lower case, as AWS sends them: tornado
    would write `X-Amz-Meta-Foo`, and SDKs take the metadata key from the header name
    as written (boto3 would return `Foo` for what the client stored as `foo`)."""

    def get_all(self) -> Iterable[tuple[str, str]]:
        for name, value in super().get_all():
            yield (name.lower() if name.startswith("X-Amz-") else name), value


class S3Handler(StreamingHandler):
    protocol = "s3"
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")  # type: ignore[assignment]

    def initialize(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.resource = "/"

    @property
    def store(self) -> Storage:
        return self.application.settings["storage"]  # type: ignore[no-any-return]

    def clear(self) -> None:
        super().clear()
        self._headers = AwsHeaders(self._headers)

    def new_request_id(self) -> str:
        return uuid.uuid4().hex[:16].upper()

    def request_id_header(self) -> str:
        return "x-amz-request-id"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.clear_header("Content-Type")

    async def cors_rules(self) -> list[CorsRule]:
        """A bucket's own CORS configuration (PutBucketCors) when it has one."""
        try:
            bucket, _ = parse_target(self.request.path, self.prefix, self.request.headers.get("Host"),
                                     (self.store.settings.host,))
        except UnicodeDecodeError:
            bucket = None
        if bucket is not None:
            ctx = Ctx(self.store, Principal.service(self.store.settings.db_service_role), "storage.s3.bucket.get_cors")
            rules = await cors.get_rules(ctx, bucket)
            if rules is not None:
                return rules
        return await super().cors_rules()

    # --- request ---------------------------------------------------------------------

    async def begin(self) -> None:
        req = self.request
        settings = self.store.settings
        host = req.headers.get("Host")
        try:
            bucket, key = parse_target(req.path, self.prefix, host, (settings.host,))
        except UnicodeDecodeError:
            raise errors.InvalidURI() from None
        self.resource = "/" + "/".join(p for p in (bucket, key) if p is not None)
        self.bucket, self.key = bucket, key
        method = req.method or ""
        query = dict(reversed(parse_qsl(req.query, keep_blank_values=True)))  # the first value wins
        route = find_route(method, bucket, key, query, {k.lower(): v for k, v in req.headers.get_all()})
        self.operation = route.name
        upload = route.max_body == UPLOAD
        self.limit_body(settings.upload_file_size_limit if upload else route.max_body,
                        errors.EntityTooLarge if upload else errors.BodyTooLarge)
        vhost = virtual_bucket(host, (settings.host,))
        if route.form_auth:  # the form's policy says who it is (s3/post_object.py)
            caller = Caller(Principal.anonymous(settings.db_anon_role),
                            {k.lower(): v for k, v in req.headers.get_all()}, anonymous=True)
        else:
            caller = await authenticate(self.store, method, req.path, req.query, req.headers.get_all(),
                                        route_prefix=self.prefix, virtual_bucket=vhost)
        ctx = Ctx(self.store, caller.principal, route.name, RequestInfo(method=method, path=req.uri or "",
                                                                        headers=caller.headers))
        if caller.anonymous and not route.form_auth:
            ctx = await anonymous_ctx(ctx, bucket, route.operation)
        bucket_url = f"{req.protocol}://{host}" + ("" if vhost else f"{self.prefix}/{quote(bucket or '')}")

        def run(channel: BodyChannel) -> Any:
            body = RequestBody(channel, auth=caller.body_auth, headers=body_headers(route, caller.headers))
            return route.operation(S3Request(method, bucket, key, query, caller.headers, ctx, body,
                                             self.resource, bucket_url))

        self.route: Route = route
        self.consume(run)

    async def get(self, *_: Any) -> None:
        await self.send_response(await self.outcome())

    head = post = put = delete = patch = options = get

    # --- response --------------------------------------------------------------------

    async def send_response(self, response: S3Response) -> None:
        self.set_status(response.status)
        for name, value in response.headers:
            self.add_header(name, value)
        if response.xml:
            self.set_header("Content-Type", "application/xml")
        if response.stream is None:
            if response.body and self.request.method != "HEAD":
                self.write(response.body)
            self.finish()
            return
        stream = response.stream
        try:
            if self.request.method == "HEAD":
                return
            # the headers go out with the first chunk: one send for a small object
            async for chunk in stream.chunks:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            await stream.aclose()
            if not self._finished:
                try:
                    self.finish()
                except StreamClosedError:
                    pass

    def render_error(self, error: errors.Error) -> bytes:
        mapped = s3_error(error)
        self.error_code = mapped.code
        if mapped.status >= 500 and mapped.code not in ("SlowDown", "ServiceUnavailable"):
            log.warning("%s %s -> %s", self.request.method, self.request.path, error)
        self.set_status(mapped.status)
        for name, value in error.headers:
            self.set_header(name, value)
        if mapped.status == 304 or self.request.method == "HEAD":
            return b""
        self.set_header("Content-Type", "application/xml")
        return error_document(mapped.code, mapped.message or "", self.resource, self.request_id,
                              extra=list(error.details))
