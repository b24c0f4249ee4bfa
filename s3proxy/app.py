"""The route table: every URL the server answers, in one place.

The main port serves the Supabase REST API and the S3 API under `/s3`; the S3 port
serves the S3 API at `/` (path-style and virtual-host style).
"""

from __future__ import annotations

import tornado.web

from s3proxy.rest import buckets, health
from s3proxy.rest.base import NotFoundHandler
from s3proxy.storage.context import Storage

_BUCKET = r"(?P<bucket_id>[^/]+)"


def rest_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    return [
        (r"/status/?", health.StatusHandler),
        (r"/version/?", health.VersionHandler),
        (r"/health/?", health.HealthHandler),
        (r"/bucket/?", buckets.BucketsHandler),
        (rf"/bucket/{_BUCKET}/empty/?", buckets.EmptyBucketHandler),
        (rf"/bucket/{_BUCKET}/?", buckets.BucketHandler),
    ]


def s3_routes(prefix: str) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    return []


class Application(tornado.web.Application):
    """tornado's Application, counting requests in flight so shutdown can drain them."""

    in_flight = 0

    def find_handler(self, request, **kwargs):  # type: ignore[no-untyped-def]
        Application.in_flight += 1
        return super().find_handler(request, **kwargs)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        Application.in_flight = max(0, Application.in_flight - 1)
        super().log_request(handler)


def in_flight() -> int:
    return Application.in_flight


def _settings(storage: Storage) -> dict[str, object]:
    limit = storage.settings.upload_file_size_limit
    return {
        "storage": storage,
        "default_handler_class": NotFoundHandler,
        "compress_response": False,
        "serve_traceback": False,
        "max_body_size": limit + 1024 * 1024,
    }


def make_app(storage: Storage) -> tornado.web.Application:
    """The main port: REST plus S3 under /s3."""
    return Application(rest_routes() + s3_routes("/s3"), **_settings(storage))  # type: ignore[arg-type]


def make_s3_app(storage: Storage) -> tornado.web.Application:
    """The S3 port: S3 at the root."""
    return Application(s3_routes(""), **_settings(storage))  # type: ignore[arg-type]
