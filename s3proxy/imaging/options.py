"""TransformOptions: what a render request asks for, and its two textual forms.

Supabase Storage writes options as imgproxy segments (`ImageRenderer.applyTransformation`
in `src/storage/renderer/image.ts`) in two flavours:

- render form, sent to imgproxy and echoed in the `X-Transformations` response header:
  `height:200,width:300,resizing_type:fill,quality:80,format:webp,gravity:ce`;
- claim form ("keepOriginal"), stored in a signed URL's `transformations` claim by
  `POST /object/sign`: the same, but `resize:<cover|contain|fill>` in place of
  `resizing_type`. When a width or height is given without `resize`, the reference
  writes `resize:undefined` (a JavaScript template of an unset value); we write the same
  so that tokens are byte-identical, and read it back as "no resize given".

Width and height are clamped to the limits when the options are built, exactly where
the reference clamps them (it clamps while writing segments, which is idempotent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

from s3proxy.imaging import jsvalues
from s3proxy.imaging.errors import invalid_parameter
from s3proxy.imaging.limits import ImageLimits

Resize = Literal["cover", "contain", "fill"]
Format = Literal["origin", "avif", "webp"]
Gravity = Literal["no", "so", "ea", "we", "noea", "nowe", "soea", "sowe", "ce", "sm", "fp"]

RESIZES: tuple[Resize, ...] = ("cover", "contain", "fill")
FORMATS: tuple[Format, ...] = ("origin", "avif", "webp")
GRAVITIES: tuple[Gravity, ...] = ("no", "so", "ea", "we", "noea", "nowe", "soea", "sowe", "ce", "sm", "fp")

# cover -> fill (crop to the box), contain -> fit (inside the box), fill -> force (stretch)
RESIZING_TYPES: dict[Resize, str] = {"cover": "fill", "contain": "fit", "fill": "force"}

FOCAL_POINT_MESSAGE = "Focal point requires x and y coordinates within 0-1 range"


@dataclass(frozen=True)
class TransformOptions:
    """Effective options: sides already clamped; None means "not given".

    `resize` None behaves as cover; `gravity` None as centre; `format` None as
    automatic (WebP when the client accepts it), "origin" keeps the source's format.
    Offsets are imgproxy's: for `fp` the focal point in 0-1, otherwise a shift away
    from the gravity edge (|v| < 1: a fraction of the image side, else pixels).
    """

    width: int | None = None
    height: int | None = None
    resize: Resize | None = None
    format: Format | None = None
    quality: int | None = None
    gravity: Gravity | None = None
    x_offset: float | None = None
    y_offset: float | None = None

    @property
    def resizing_type(self) -> str:
        """imgproxy's resizing type: fill, fit or force."""
        return RESIZING_TYPES[self.resize] if self.resize else "fill"

    def segments(self) -> list[str]:
        """Render form, as the reference sends to imgproxy and puts in X-Transformations."""
        return self._segments(claim=False)

    def to_claims(self) -> tuple[str, str]:
        """`(transformations, format)` claims for a download token; empty means "leave out"."""
        return ",".join(self._segments(claim=True)), self.format or ""

    def _segments(self, *, claim: bool) -> list[str]:
        out: list[str] = []
        if self.height:
            out.append(f"height:{self.height}")
        if self.width:
            out.append(f"width:{self.width}")
        if self.width or self.height:
            if claim:
                out.append(f"resize:{self.resize or 'undefined'}")
            else:
                out.append(f"resizing_type:{self.resizing_type}")
        if self.quality:
            out.append(f"quality:{self.quality}")
        if self.format and self.format != "origin":
            out.append(f"format:{self.format}")
        if self.gravity == "sm":
            out.append("gravity:sm")  # imgproxy's smart gravity takes no offsets
        elif self.gravity == "fp":
            out.append(f"gravity:fp:{_num(self.x_offset)}:{_num(self.y_offset)}")
        elif self.gravity:
            if self.x_offset is None and self.y_offset is None:
                out.append(f"gravity:{self.gravity}")
            else:
                out.append(f"gravity:{self.gravity}:{_num(self.x_offset or 0)}:{_num(self.y_offset or 0)}")
        return out

    @classmethod
    def from_claims(cls, transformations: str | None, image_format: str | None,
                    limits: ImageLimits) -> TransformOptions:
        """Options from a verified download token (`setTransformationsFromString`).

        Parsed as leniently as the reference: unknown names and unparsable numbers are
        skipped. One deliberate difference: the reference ignores the separate `format`
        claim when rendering, so a URL signed with `format: "origin"` still gets WebP for
        browsers that accept it; here `format: "origin"` (or any known format) is
        honoured when the `transformations` string does not name a format itself.
        """
        values: dict[str, object] = {}
        for part in (transformations or "").split(","):
            name, _, rest = part.partition(":")
            value, _, offsets = rest.partition(":")
            if value == "":
                continue
            if name in ("height", "width", "quality"):
                values[name] = jsvalues.parse_int(value)
            elif name in ("resize", "format"):
                values[name] = value
            elif name == "gravity":
                values["gravity"] = value
                x_text, _, y_text = offsets.partition(":")
                x, y = jsvalues.parse_float(x_text), jsvalues.parse_float(y_text.partition(":")[0])
                if math.isfinite(x):
                    values["x_offset"] = x
                if math.isfinite(y):
                    values["y_offset"] = y
        if "format" not in values and image_format:
            values["format"] = image_format
        return build(values, limits)


def build(values: dict[str, object], limits: ImageLimits) -> TransformOptions:
    """TransformOptions from already type-checked values, clamped like the reference.

    Unknown `resize` / `format` / `gravity` strings (only reachable through a hand-made
    token) are treated as absent for resize, and refused for format and gravity, which
    imgproxy would reject.
    """
    def side(name: str) -> int | None:
        v = values.get(name)  # any non-zero number is clamped, as `if (options.width)` lets it through
        return limits.clamp_side(v) if isinstance(v, int) and v != 0 else None

    resize = values.get("resize")
    image_format = values.get("format")
    gravity = values.get("gravity")
    if image_format is not None and image_format not in FORMATS:
        raise invalid_parameter("Invalid Parameter format")
    if gravity is not None and gravity not in GRAVITIES:
        raise invalid_parameter("Invalid Parameter gravity")
    quality = values.get("quality")
    x, y = values.get("x_offset"), values.get("y_offset")
    options = TransformOptions(
        width=side("width"),
        height=side("height"),
        resize=cast(Resize, resize) if resize in RESIZES else None,
        format=cast(Format, image_format) if image_format else None,
        quality=min(quality, 100) if isinstance(quality, int) and quality > 0 else None,
        gravity=cast(Gravity, gravity) if gravity else None,
        x_offset=float(x) if isinstance(x, int | float) else None,
        y_offset=float(y) if isinstance(y, int | float) else None,
    )
    check_focal_point(options)
    return options


def check_focal_point(options: TransformOptions) -> None:
    """The reference's own check when writing `gravity:fp` (InvalidParameter gravity)."""
    if options.gravity != "fp":
        return
    for v in (options.x_offset, options.y_offset):
        if v is None or not math.isfinite(v) or not 0 <= v <= 1:
            raise invalid_parameter(FOCAL_POINT_MESSAGE)


def _num(value: float | None) -> str:
    assert value is not None
    return jsvalues.to_string(value)
