"""The one exception the imaging package raises, and what the reference answers for each
kind of failure.

Supabase Storage renders through imgproxy and turns imgproxy's failures into its own
errors (`src/storage/renderer/image.ts`, `ERRORS.ImageProcessingError` in
`src/internal/errors/codes.ts`). Parameter problems never reach imgproxy: Fastify's
JSON-schema validation (`src/http/schemas/transformations.ts`) refuses them first. So:

| kind            | reference answer (REST body; the HTTP status is 400 for all, §0 fact 1)         |
|-----------------|----------------------------------------------------------------------------------|
| PARAMETER       | schema validation: statusCode "400", error "Error", code InvalidRequest, message |
|                 | e.g. "querystring/width must be integer". The focal-point check made while       |
|                 | building imgproxy segments is `ERRORS.InvalidParameter('gravity', ...)`:          |
|                 | statusCode "400", error/code InvalidParameter.                                   |
| INVALID_SOURCE  | ImageProcessingError: statusCode "400", code/error InvalidRequest, message        |
|                 | "The source image is invalid or unsupported for rendering".                      |
| TOO_LARGE       | same code, message "The source image resolution is too large to process" or       |
|                 | "The source image file is too large to process".                                  |

Upstream releases before that mapping passed imgproxy's own status and text through:
imgproxy answers 422 "Invalid source image" for all three source problems (unsupported
type, file too big, resolution too big; `security/errors.go`, `imagedata/errors.go`),
so older servers said statusCode "422", code InvalidRequest. Nobody answers 413 here.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    PARAMETER = "parameter"
    INVALID_SOURCE = "invalid_source"
    TOO_LARGE = "too_large"


class TransformError(Exception):
    """Bad transformation input or a source the engine will not render.

    `code`, `error` and `status` are what Supabase puts in the REST error body (the
    `code`, `error` and `statusCode` fields) for this failure. The server answers with
    the errors class named by `code` (rest/transforms.py), rendered by the REST table:
    the same code and status; `error` is then the table's ("InvalidRequest" where
    Fastify's schema errors say "Error").
    """

    def __init__(self, kind: ErrorKind, message: str, *, code: str = "InvalidRequest",
                 error: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.error = error if error is not None else code
        self.status = status

    def __repr__(self) -> str:
        return f"TransformError({self.kind.name}, {self.message!r})"


def schema_error(message: str) -> TransformError:
    """A Fastify schema-validation failure (error "Error", code InvalidRequest)."""
    return TransformError(ErrorKind.PARAMETER, message, code="InvalidRequest", error="Error")


def invalid_parameter(message: str) -> TransformError:
    """`ERRORS.InvalidParameter(...)` with a custom message."""
    return TransformError(ErrorKind.PARAMETER, message, code="InvalidParameter")


def invalid_source() -> TransformError:
    return TransformError(ErrorKind.INVALID_SOURCE, "The source image is invalid or unsupported for rendering")


def source_file_too_large() -> TransformError:
    return TransformError(ErrorKind.TOO_LARGE, "The source image file is too large to process")


def source_resolution_too_large() -> TransformError:
    return TransformError(ErrorKind.TOO_LARGE, "The source image resolution is too large to process")
