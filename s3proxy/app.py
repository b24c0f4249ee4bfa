"""The route table: every URL the server answers, in one place.

The main port serves the Supabase REST API at `/` and at `/storage/v1` (the path
supabase-js and the hosted service use), and the S3 API under `/s3` and
`/storage/v1/s3`; the S3 port serves the S3 API at `/` (path-style and virtual-host).
"""

from __future__ import annotations

from typing import Any

import tornado.httputil
import tornado.web

from s3proxy import metrics
from s3proxy.config import Settings
from s3proxy.imaging import ImageLimits, ImageService
from s3proxy.rest import buckets, docs, health, listing, objects, render, signed, tus
from s3proxy.rest import metrics as metrics_route
from s3proxy.rest.base import NotFoundHandler
from s3proxy.storage.context import Storage
from s3proxy.web.handler import StreamingHandler

Route = tuple[str, type[tornado.web.RequestHandler]] | tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]

_BUCKET = r"(?P<bucket_id>[^/]+)"
_OBJECT = r"(?P<bucket_id>[^/]+)/(?P<key>.+)"


# supabase-js and the hosted service's URLs carry the gateway's prefix: served with and without it
SUPABASE_PREFIX = "/storage/v1"


def rest_routes(settings: Settings) -> list[Route]:
    return [(f"(?:{SUPABASE_PREFIX})?{route[0]}", *route[1:]) for route in rest_paths(settings)]  # type: ignore[misc]


def rest_paths(settings: Settings) -> list[Route]:
    """The REST routes as written (rest_routes serves each also under SUPABASE_PREFIX)."""
    return [
        (r"/status/?", health.StatusHandler),
        (r"/version/?", health.VersionHandler),
        (r"/health/?", health.HealthHandler),
        (r"/metrics/?", metrics_route.MetricsHandler),
        (r"/openapi\.json", docs.OpenApiHandler),
        (r"/documentation/?", docs.DocumentationHandler),
        (r"/bucket/?", buckets.BucketsHandler),
        (rf"/bucket/{_BUCKET}/empty/?", buckets.EmptyBucketHandler),
        (rf"/bucket/{_BUCKET}/?", buckets.BucketHandler),
        *object_routes(),
        *(render_routes() if settings.image_transformation_enabled else []),
        *tus_routes(),
    ]


def tus_routes() -> list[Route]:
    """Reference §2.5: the collection and its uploads, plain and signed (`x-signature`)."""
    upload = r"(?P<upload_id>[^/]+)"
    return [
        (r"/upload/resumable/sign/?", tus.TusHandler, {"signed": True}),
        (rf"/upload/resumable/sign/{upload}/?", tus.TusHandler, {"signed": True}),
        (r"/upload/resumable/?", tus.TusHandler, {"signed": False}),
        (rf"/upload/resumable/{upload}/?", tus.TusHandler, {"signed": False}),
    ]


def object_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Reference §2.3; the fixed prefixes come before the generic /object/{bucket}/{key}."""
    return [
        (rf"/object/list/{_BUCKET}/?", listing.ListV1Handler),
        (rf"/object/list-v2/{_BUCKET}/?", listing.ListV2Handler),
        (rf"/object/info/authenticated/{_OBJECT}", objects.AuthenticatedInfoHandler),
        (rf"/object/info/public/{_OBJECT}", objects.PublicInfoHandler),
        (rf"/object/info/{_OBJECT}", objects.InfoHandler),
        (rf"/object/sign/{_OBJECT}", signed.SignedObjectHandler),
        (rf"/object/sign/{_BUCKET}/?", signed.SignManyHandler),
        (rf"/object/upload/sign/{_OBJECT}", signed.SignedUploadHandler),
        (r"/object/move/?", objects.MoveHandler),
        (r"/object/copy/?", objects.CopyHandler),
        (rf"/object/authenticated/{_OBJECT}", objects.AuthenticatedObjectHandler),
        (rf"/object/public/{_OBJECT}", objects.PublicObjectHandler),
        (rf"/object/{_OBJECT}", objects.ObjectHandler),
        (rf"/object/{_BUCKET}/?", objects.BulkDeleteHandler),
    ]


def render_routes() -> list[Route]:
    """Reference §2.4, only while IMAGE_TRANSFORMATION_ENABLED (else they are unknown routes)."""
    return [
        (rf"/render/image/authenticated/{_OBJECT}", render.RenderAuthenticatedHandler),
        (rf"/render/image/public/{_OBJECT}", render.RenderPublicHandler),
        (rf"/render/image/sign/{_OBJECT}", render.RenderSignedHandler),
    ]


def image_service(settings: Settings) -> ImageService:
    """The process's image engine, as configured; libvips loads on its first render."""
    limits = ImageLimits(min_size=settings.image_min_size, max_size=settings.image_max_size,
                         max_source_bytes=settings.image_max_source_size,
                         max_resolution=settings.image_max_resolution * 1_000_000)
    return ImageService(limits, enabled=settings.image_transformation_enabled,
                        concurrency=settings.image_concurrency or None, on_render=metrics.image_rendered)


def s3_routes(prefix: str) -> list[Route]:
    """S3 at `prefix` (path-style and virtual-host); one handler, the operation table is
    in s3/routing.py."""
    from s3proxy.s3.base import S3Handler

    return [(rf"{prefix}(?:/.*)?", S3Handler, {"prefix": prefix})]  # type: ignore[list-item]


class Application(tornado.web.Application):
    """tornado's Application, remembering the requests in flight so shutdown can drain them."""

    requests: dict[int, tornado.httputil.HTTPServerRequest] = {}

    def find_handler(self, request, **kwargs):  # type: ignore[no-untyped-def]
        Application.requests[id(request)] = request
        return super().find_handler(request, **kwargs)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Every finished request: the access log and the metrics (web/access.py)."""
        Application.requests.pop(id(handler.request), None)
        if isinstance(handler, StreamingHandler):
            handler.record_access()
        else:
            super().log_request(handler)


def in_flight() -> int:
    """Requests still being served; those whose client went away no longer count."""
    for key, request in list(Application.requests.items()):
        stream = getattr(request.connection, "stream", None)
        if stream is None or stream.closed():
            Application.requests.pop(key, None)
    return len(Application.requests)


def _settings(storage: Storage, images: ImageService | None) -> dict[str, object]:
    limit = storage.settings.upload_file_size_limit
    return {
        "storage": storage,
        "images": images or image_service(storage.settings),
        "default_handler_class": NotFoundHandler,
        "compress_response": False,
        "serve_traceback": False,
        "max_body_size": limit + 1024 * 1024,
    }


def make_app(storage: Storage, images: ImageService | None = None) -> tornado.web.Application:
    """The main port: REST (also under /storage/v1) plus S3 under /s3 and /storage/v1/s3.
    `images`: the process's one image engine (worker.py closes it at shutdown)."""
    routes = rest_routes(storage.settings) + s3_routes(f"{SUPABASE_PREFIX}/s3") + s3_routes("/s3")
    return Application(routes, **_settings(storage, images))  # type: ignore[arg-type]


def make_s3_app(storage: Storage) -> tornado.web.Application:
    """The S3 port: S3 at the root."""
    return Application(s3_routes(""), **_settings(storage, None))  # type: ignore[arg-type]
