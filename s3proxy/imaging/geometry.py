"""Output size and crop box of a render: imgproxy's arithmetic, in integers.

Supabase hands resizing to imgproxy with `resizing_type` fill (cover), fit (contain) or
force (fill), no `enlarge`, `dpr` 1 and default gravity centre. This module ports the
parts of imgproxy that decide the geometry (`processing/prepare.go` calcScale,
`processing/calc_position.go`, `processing/crop.go` cropToResult) so that the same
request crops the same pixels. Notable consequences, all imgproxy's:

- an image is never enlarged: asking for more than the source gives the source size,
  and for cover the crop box is then cut down to what the image has;
- with only one side given, cover and contain keep the aspect ratio, while fill
  (force) stretches that one side and leaves the other as it is;
- directional gravity offsets push the crop away from the named edge: |v| < 1 is a
  fraction of the image side, otherwise pixels; `fp` centres the crop on the point
  (x, y) given as fractions, clamped so the crop stays inside the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from s3proxy.imaging.options import TransformOptions

_NORTH = frozenset({"no", "noea", "nowe"})
_SOUTH = frozenset({"so", "soea", "sowe"})
_EAST = frozenset({"ea", "noea", "soea"})
_WEST = frozenset({"we", "nowe", "sowe"})

# Largest side each encoder accepts (imgproxy processing/fix_size.go)
MAX_SIDE = {"webp": 16383, "avif": 16384, "gif": 65535}


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    """Resize the (auto-rotated) source to width x height, then cut `crop` out of it.

    With `smart`, the crop's size is fixed but libvips picks its position (attention
    strategy, imgproxy's `gravity:sm`); `crop` then holds the centred fallback.
    """

    width: int
    height: int
    crop: Box | None = None
    smart: bool = False

    @property
    def output_size(self) -> tuple[int, int]:
        if self.crop:
            return self.crop.width, self.crop.height
        return self.width, self.height


def plan(src_width: int, src_height: int, options: TransformOptions) -> Plan:
    wscale, hscale = _scales(src_width, src_height, options)
    width = max(1, _round_half_up(src_width * wscale))
    height = max(1, _round_half_up(src_height * hscale))
    crop_width = min(options.width, width) if options.width else width
    crop_height = min(options.height, height) if options.height else height
    if crop_width >= width and crop_height >= height:
        return Plan(width, height)
    if options.gravity == "sm":
        left, top = _position(width, height, crop_width, crop_height, "ce", 0.0, 0.0)
        return Plan(width, height, Box(left, top, crop_width, crop_height), smart=True)
    left, top = _position(width, height, crop_width, crop_height, options.gravity or "ce",
                          options.x_offset or 0.0, options.y_offset or 0.0)
    return Plan(width, height, Box(left, top, crop_width, crop_height))


def cap_scale(width: int, height: int, output_format: str) -> float | None:
    """The extra downscale an encoder's size limit forces on the output, if any."""
    limit = MAX_SIDE.get(output_format)
    longest = max(width, height)
    if limit is None or longest <= limit:
        return None
    return limit / longest


def _scales(src_w: int, src_h: int, options: TransformOptions) -> tuple[float, float]:
    """imgproxy calcScale with dpr 1, no zoom, no enlarge."""
    resizing = options.resizing_type
    want_w, want_h = options.width or 0, options.height or 0
    dst_w = want_w or src_w
    dst_h = want_h or src_h
    wshrink = 1.0 if dst_w == src_w else src_w / dst_w
    hshrink = 1.0 if dst_h == src_h else src_h / dst_h
    if wshrink != 1 or hshrink != 1:
        if not want_w and resizing != "force":
            wshrink = hshrink
        elif not want_h and resizing != "force":
            hshrink = wshrink
        elif resizing == "fit":
            wshrink = hshrink = max(wshrink, hshrink)
        elif resizing == "fill":
            wshrink = hshrink = min(wshrink, hshrink)
    smallest = min(wshrink, hshrink)
    if smallest < 1:  # no enlarging: scale both back so that neither side grows
        wshrink /= smallest
        hshrink /= smallest
    wshrink = min(wshrink, src_w)
    hshrink = min(hshrink, src_h)
    return 1 / wshrink, 1 / hshrink


def _position(width: int, height: int, inner_w: int, inner_h: int, gravity: str,
              x: float, y: float) -> tuple[int, int]:
    """imgproxy calcPosition (no overflow): top-left corner of the crop."""
    if gravity == "fp":
        left = _scale_to_even(width, x) - inner_w // 2
        top = _scale_to_even(height, y) - inner_h // 2
    else:
        off_x = round(x) if abs(x) >= 1 else _scale_to_even(width, x)
        off_y = round(y) if abs(y) >= 1 else _scale_to_even(height, y)
        left = _shrink_to_even(width - inner_w + 1, 2) + off_x
        top = _shrink_to_even(height - inner_h + 1, 2) + off_y
        if gravity in _NORTH:
            top = off_y
        if gravity in _EAST:
            left = width - inner_w - off_x
        if gravity in _SOUTH:
            top = height - inner_h - off_y
        if gravity in _WEST:
            left = off_x
    left = max(0, min(left, width - inner_w))
    top = max(0, min(top, height - inner_h))
    return left, top


# Go's math.RoundToEven is Python's round(); math.Round (half away from zero) is not.
def _scale_to_even(a: int, scale: float) -> int:
    return 0 if a == 0 else round(a * scale)


def _shrink_to_even(a: int, shrink: float) -> int:
    return 0 if a == 0 else round(a / shrink)


def _round_half_up(value: float) -> int:
    """libvips' VIPS_ROUND_UINT, which sizes vips_resize's output."""
    return math.floor(value + 0.5)
