"""In-process image transformations for `/render/image/...` (Supabase Storage renders
through imgproxy; this package does the same work with libvips in our own process).

Importing this package does not load libvips; creating an ImageRenderer does.

    limits = ImageLimits(max_size=settings..., ...)
    options = parse_query(query, limits)               # GET /render/image/{public,authenticated}
    options = TransformOptions.from_claims(claims.get("transformations"), claims.get("format"), limits)
    options = parse_sign_transform(body["transform"], limits)   # POST /object/sign
    transformations, image_format = options.to_claims()
    rendered = await renderer.render(source_bytes, options, request.headers.get("Accept"))
    headers["X-Transformations"] = ",".join(options.segments())

Every refusal is a TransformError (see errors.py for the reference's status and code).
"""

from s3proxy.imaging.engine import ImageRenderer, Rendered
from s3proxy.imaging.errors import ErrorKind, TransformError
from s3proxy.imaging.limits import ImageLimits
from s3proxy.imaging.options import TransformOptions
from s3proxy.imaging.service import ImageService
from s3proxy.imaging.validation import parse_query, parse_sign_transform

__all__ = [
    "ErrorKind",
    "ImageLimits",
    "ImageRenderer",
    "ImageService",
    "Rendered",
    "TransformError",
    "TransformOptions",
    "parse_query",
    "parse_sign_transform",
]
