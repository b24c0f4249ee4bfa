"""Which format a rendered image is written in, as imgproxy decides it for Supabase.

Supabase runs imgproxy with `IMGPROXY_ENABLE_WEBP_DETECTION=true` (docs' self-hosting
section, the Supabase CLI, the self-hosted compose file) and forwards the client's
`Accept` header unless `format=origin`. imgproxy then picks (`determineOutputFormat`):

1. an explicit `format` (webp, avif);
2. WebP when `Accept` contains `image/webp` (a plain substring test, as imgproxy does);
   AVIF likewise for `image/avif` only when AVIF detection is switched on, which
   Supabase does not do ("We currently only support WebP" for automatic optimisation),
   hence `auto_avif=False` by default;
3. otherwise the source's own format when it is a "preferred" one (JPEG, PNG, GIF:
   imgproxy's `IMGPROXY_PREFERRED_FORMATS` default), else the first preferred format
   that can hold the image (PNG for transparency, GIF for animation, else JPEG).

So `format=origin` on a WebP, AVIF, HEIC or TIFF source yields JPEG (or PNG/GIF), as
with the reference: it only stops the Accept-driven conversion.
"""

from __future__ import annotations

from typing import Literal

from s3proxy.imaging.options import Format

SourceType = Literal["jpeg", "png", "gif", "webp", "avif", "heic", "tiff"]
OutputFormat = Literal["jpeg", "png", "gif", "webp", "avif"]

CONTENT_TYPES: dict[OutputFormat, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
}

PREFERRED: tuple[OutputFormat, ...] = ("jpeg", "png", "gif")
_PREFERRED_SOURCES: dict[str, OutputFormat] = {f: f for f in PREFERRED}
SUPPORTS_ALPHA: frozenset[str] = frozenset({"png", "gif", "webp", "avif"})
SUPPORTS_ANIMATION: frozenset[str] = frozenset({"gif", "webp"})  # libvips cannot write animated AVIF

# libvips loader nickname prefix -> source type (the loader libvips picked by sniffing)
_LOADERS: dict[str, SourceType] = {
    "jpegload": "jpeg",
    "uhdrload": "jpeg",  # UltraHDR: a JPEG with a gain map
    "pngload": "png",
    "gifload": "gif",
    "webpload": "webp",
    "tiffload": "tiff",
}


def source_type(loader: str, heif_compression: str | None = None) -> SourceType | None:
    """The source format from libvips' `vips-loader` (and `heif-compression`) metadata."""
    prefix = loader.partition("_")[0]
    if prefix == "heifload":
        return "avif" if heif_compression == "av1" else "heic"
    return _LOADERS.get(prefix)


def can_animate(source: SourceType, requested: Format | None) -> bool:
    """Whether an animated source should be loaded with its frames (imgproxy's
    `animationSupport`): only GIF/WebP sources, and not when AVIF is asked for."""
    return source in ("gif", "webp") and requested != "avif"


def choose_output(source: SourceType, requested: Format | None, accept: str | None, *,
                  animated: bool = False, alpha: bool = False, auto_avif: bool = False) -> OutputFormat:
    if requested == "webp" or requested == "avif":
        return requested
    if requested is None and accept:
        if auto_avif and not animated and "image/avif" in accept:
            return "avif"
        if "image/webp" in accept:
            return "webp"
    if source in _PREFERRED_SOURCES:
        return _PREFERRED_SOURCES[source]
    for candidate in PREFERRED:
        if (not animated or candidate in SUPPORTS_ANIMATION) and (not alpha or candidate in SUPPORTS_ALPHA):
            return candidate
    return PREFERRED[0]
