"""Everything that calls libvips. pyvips has no type stubs, so its untyped surface
stays in this one module; the rest of the package is plain typed Python.

`render_image` runs in a worker thread (see engine.py): libvips releases the GIL
while it computes, so several renders proceed in parallel without holding up the event
loop. The steps follow imgproxy's pipeline as Supabase configures it: read the header
only, refuse oversized or unsupported sources before decoding a pixel, pick the output
format, then one `thumbnail_buffer` call (shrink-on-load: a JPEG is decoded at 1/2, 1/4
or 1/8 scale when that is enough, so a 4000x3000 photo to 400 px never exists in memory
at full size), auto-rotation from EXIF, conversion to sRGB, crop, encode with all metadata
stripped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pyvips

from s3proxy.imaging import errors, formats, geometry
from s3proxy.imaging.engine import Rendered
from s3proxy.imaging.limits import ImageLimits
from s3proxy.imaging.options import TransformOptions

# Loaders a source may be decoded with: the formats Supabase documents as sources
# (PNG, JPEG, WebP, AVIF, GIF, HEIC, TIFF). Every other libvips loader is blocked: the
# csv/matrix/raw/vips loaders would accept text or libvips' own format, and SVG runs a
# renderer (librsvg) whose cost is not bounded by pixel counts. ICO and BMP have no
# loader in this libvips build.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadUhdr",
    "VipsForeignLoadPng",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadWebp",
    "VipsForeignLoadTiff",
    "VipsForeignLoadHeif",
)

# imgproxy's default quality is 80; AVIF has its own default there, as its scale differs
DEFAULT_QUALITY = {"jpeg": 80, "webp": 80, "avif": 65}

_configured = False
_configure_lock = threading.Lock()


def configure() -> None:
    """Process-wide libvips settings for a server; idempotent.

    - the operation cache is off: every request brings a different image, so cached
      operations only pin memory (imgproxy does the same);
    - each pipeline runs on one libvips thread: parallelism comes from rendering
      several images at once in our own bounded pool, not from N x cores threads;
    - untrusted loaders and every loader outside ALLOWED_LOADERS are blocked.
    """
    global _configured
    with _configure_lock:
        if _configured:
            return
        pyvips.cache_set_max(0)
        pyvips.cache_set_max_mem(0)
        pyvips.cache_set_max_files(0)
        pyvips.concurrency_set(1)
        pyvips.block_untrusted_set(True)
        pyvips.operation_block_set("VipsForeignLoad", True)
        for name in ALLOWED_LOADERS:
            pyvips.operation_block_set(name, False)
        _configured = True


@dataclass(frozen=True)
class Header:
    source: formats.SourceType
    width: int  # as displayed, i.e. after EXIF auto-rotation
    height: int  # one page / frame
    pages: int
    alpha: bool
    icc: bool


def read_header(source: bytes) -> Header:
    """What the source claims to be, read without decoding any pixel."""
    try:
        image = pyvips.Image.new_from_buffer(source, "", access="sequential")
        loader = _get(image, "vips-loader")
        kind = formats.source_type(str(loader or ""), _get(image, "heif-compression"))
        orientation = _get(image, "orientation") or 1
        pages = _get(image, "n-pages") or 1
        width, height = int(image.width), int(image.height)
        alpha = bool(image.hasalpha())
        icc = bool(image.get_typeof("icc-profile-data"))
    except pyvips.Error as exc:
        raise errors.invalid_source() from exc
    if kind is None:
        raise errors.invalid_source()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Header(kind, width, height, max(1, int(pages)), alpha, icc)


def render_image(source: bytes, options: TransformOptions, accept: str | None, limits: ImageLimits,
                 auto_avif: bool = False) -> Rendered:
    """Render one image; raises TransformError, never pyvips.Error."""
    limits.check_source_size(len(source))
    header = read_header(source)
    frames = 1
    if limits.max_animation_frames > 1 and formats.can_animate(header.source, options.format):
        frames = min(header.pages, limits.max_animation_frames)
    # imgproxy counts every processed frame against the resolution limit
    if header.width * header.height * frames > limits.max_resolution:
        raise errors.source_resolution_too_large()
    output = formats.choose_output(
        header.source, options.format, None if options.format == "origin" else accept,
        animated=frames > 1, alpha=header.alpha, auto_avif=auto_avif,
    )
    if output not in formats.SUPPORTS_ANIMATION:
        frames = 1
    layout = geometry.plan(header.width, header.height, options)
    try:
        image = _load_scaled(source, header, layout, frames)
        image = _crop(image, layout, frames)
        # No flattening step: choose_output never sends a source with alpha to JPEG.
        page_height = image.height // frames
        scale = geometry.cap_scale(image.width, page_height, output)
        if scale is not None:
            image = _resize_pages(image, scale, frames)
            page_height = image.height // frames
        body = _save(image, output, options.quality)
        width = int(image.width)
    except pyvips.Error as exc:
        # Corrupt or truncated data surfaces here, when pixels are first decoded.
        raise errors.invalid_source() from exc
    return Rendered(body=body, content_type=formats.CONTENT_TYPES[output], width=width, height=page_height)


def _load_scaled(source: bytes, header: Header, layout: geometry.Plan, frames: int) -> Any:
    load_options = "fail_on=truncated"
    if header.source in ("gif", "webp"):
        load_options += f",n={frames}"
    kwargs: dict[str, Any] = {"height": layout.height, "size": "force", "option_string": load_options}
    if header.icc:
        kwargs["output_profile"] = "srgb"  # convert from the embedded profile, which saving strips
    return pyvips.Image.thumbnail_buffer(source, layout.width, **kwargs)


def _crop(image: Any, layout: geometry.Plan, frames: int) -> Any:
    box = layout.crop
    if box is None:
        return image
    if frames > 1:
        page = image.height // frames
        parts = [image.extract_area(box.left, i * page + box.top, box.width, box.height) for i in range(frames)]
        return _as_pages(pyvips.Image.arrayjoin(parts, across=1), box.height)
    if layout.smart:
        return image.copy_memory().smartcrop(box.width, box.height, interesting="attention")
    return image.extract_area(box.left, box.top, box.width, box.height)


def _resize_pages(image: Any, scale: float, frames: int) -> Any:
    if frames == 1:
        return image.resize(scale)
    page = image.height // frames
    parts = [image.extract_area(0, i * page, image.width, page).resize(scale) for i in range(frames)]
    return _as_pages(pyvips.Image.arrayjoin(parts, across=1), parts[0].height)


def _as_pages(image: Any, page_height: int) -> Any:
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "page-height", page_height)
    return image


def _save(image: Any, output: str, quality: int | None) -> bytes:
    q = quality or DEFAULT_QUALITY.get(output, 80)
    if output == "jpeg":
        data = image.jpegsave_buffer(Q=q, optimize_coding=True, interlace=True, keep="none")
    elif output == "png":
        data = image.pngsave_buffer(keep="none")
    elif output == "webp":
        data = image.webpsave_buffer(Q=q, effort=4, keep="none")
    elif output == "avif":
        # effort 1 is imgproxy's default AVIF speed 8 (effort = 9 - speed)
        data = image.heifsave_buffer(Q=q, compression="av1", effort=1, bitdepth=8, keep="none")
    else:
        data = image.gifsave_buffer(keep="none")
    return bytes(data)


def _get(image: Any, name: str) -> Any:
    return image.get(name) if image.get_typeof(name) else None
