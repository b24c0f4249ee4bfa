"""Transformation options from a request, accepted and refused as the reference does.

The reference validates them with a JSON schema (`transformationOptionsSchema` in
`src/http/schemas/transformations.ts`) under Fastify's ajv settings: types are coerced
(`coerceTypes: "array"`), only the first failure is reported, and the message is
`<dataVar><instancePath> <ajv message>`, e.g. `querystring/quality must be <= 100`.
ajv checks keywords without a type first (the schema's `if`/`then` for focal-point
gravity, `finite`, `enum`), then the number limits, then `properties` in schema order;
this module follows the same order so the same request gets the same message.

- `GET /render/image/{public,authenticated}/...`: the query string (dataVar
  `querystring`); a repeated parameter arrives as an array and fails its type check.
- `POST /object/sign/...`: the JSON body's `transform` object (`body/transform`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3proxy.imaging import jsvalues
from s3proxy.imaging.errors import schema_error
from s3proxy.imaging.limits import ImageLimits
from s3proxy.imaging.options import FORMATS, GRAVITIES, RESIZES, TransformOptions, build


@dataclass(frozen=True)
class _Field:
    name: str
    type: str  # integer | number | string
    finite: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


_FIELDS = (
    _Field("height", "integer", finite=True, minimum=0),
    _Field("width", "integer", finite=True, minimum=0),
    _Field("resize", "string", enum=RESIZES),
    _Field("format", "string", enum=FORMATS),
    _Field("quality", "integer", finite=True, minimum=20, maximum=100),
    _Field("gravity", "string", enum=GRAVITIES),
    _Field("x_offset", "number", finite=True),
    _Field("y_offset", "number", finite=True),
)
# the schema's `then` branch when gravity is "fp"
_FOCAL_POINT = (
    _Field("x_offset", "number", minimum=0, maximum=1),
    _Field("y_offset", "number", minimum=0, maximum=1),
)


def parse_query(query: Mapping[str, str | Sequence[str]], limits: ImageLimits) -> TransformOptions:
    """Options from the render routes' query string.

    `query` maps each parameter to its value, or to the list of its values (as Tornado's
    `query_arguments` gives them, decoded); a one-element list counts as a plain value.
    Other parameters (`download`, `versionId`, ...) are ignored here.
    """
    data: dict[str, Any] = {}
    for name, value in query.items():
        if not isinstance(value, str) and len(value) == 1:
            value = value[0]
        data[name] = value if isinstance(value, str) else list(value)
    return build(_validate(data, "querystring"), limits)


def parse_sign_transform(transform: Any, limits: ImageLimits) -> TransformOptions:
    """Options from the `transform` member of a `POST /object/sign` JSON body."""
    if isinstance(transform, list) and len(transform) == 1:
        transform = transform[0]
    if not isinstance(transform, dict):
        raise schema_error("body/transform must be object")
    return build(_validate(transform, "body/transform"), limits)


def _validate(data: Mapping[str, Any], root: str) -> dict[str, object]:
    values: dict[str, Any] = dict(data)
    if values.get("gravity") == "fp":
        then_failed = f'{root} must match "then" schema'
        for name in ("x_offset", "y_offset"):
            if name not in values:
                raise schema_error(f"{root} must have required property '{name}', {then_failed}")
        for field in _FOCAL_POINT:
            message = _check(field, values, f"{root}/{field.name}")
            if message:
                raise schema_error(f"{message}, {then_failed}")
    for field in _FIELDS:
        if field.name in values:
            message = _check(field, values, f"{root}/{field.name}")
            if message:
                raise schema_error(message)
    return values


def _check(field: _Field, values: dict[str, Any], path: str) -> str | None:
    """Coerce `values[field.name]` in place (as ajv does); the failure message, if any."""
    raw = values[field.name]
    if field.type == "string":
        value = jsvalues.coerce_string(raw)
    else:
        value = jsvalues.coerce_number(raw, integer=field.type == "integer")
    if value is jsvalues.NOT_COERCIBLE:
        return f"{path} must be {field.type}"
    values[field.name] = value
    if field.finite and not math.isfinite(value):
        return f'{path} must pass "finite" keyword validation'
    if field.enum and value not in field.enum:
        return f"{path} must be equal to one of the allowed values"
    if field.maximum is not None and value > field.maximum:
        return f"{path} must be <= {field.maximum}"
    if field.minimum is not None and value < field.minimum:
        return f"{path} must be >= {field.minimum}"
    return None
