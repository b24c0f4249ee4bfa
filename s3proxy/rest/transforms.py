"""Image transformation options on the REST surface: read from a query string, refused in
the REST envelope, and echoed as `X-Transformations` (reference §2.3 "Info and HEAD",
§2.4).

The imaging package reports refusals as its own TransformError, which knows nothing of
wire formats; here they become the errors classes the REST table renders: a bad
parameter or source is InvalidRequest (HTTP 400, statusCode "400"), the focal-point
check InvalidParameter, as the reference answers them.
"""

from __future__ import annotations

from tornado.web import RequestHandler

from s3proxy import errors
from s3proxy.imaging import ImageService, TransformError, TransformOptions, parse_query


def image_service(handler: RequestHandler) -> ImageService:
    return handler.application.settings["images"]  # type: ignore[no-any-return]


def as_error(exc: TransformError) -> errors.Error:
    if exc.code == "InvalidParameter":
        return errors.InvalidParameter(exc.message)
    return errors.InvalidRequest(exc.message)


def query_options(handler: RequestHandler) -> TransformOptions:
    """The transformation the query string asks for (`width`, `height`, `resize`, ...);
    other parameters are ignored."""
    query = {name: [v.decode("utf-8", "replace") for v in values]
             for name, values in handler.request.query_arguments.items()}
    try:
        return parse_query(query, image_service(handler).limits)
    except TransformError as exc:
        raise as_error(exc) from exc


def set_transformations_header(handler: RequestHandler, options: TransformOptions) -> None:
    """`X-Transformations: height:200,width:300,resizing_type:fill` when there are any."""
    segments = options.segments()
    if segments:
        handler.set_header("X-Transformations", ",".join(segments))
