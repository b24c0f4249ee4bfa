"""The knobs that bound what a transformation may ask for and what a source may cost.

Defaults are the reference's: output sides clamped to `IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE`
/ `IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE` (1 / 2000 in Supabase Storage's config; the
hosted service documents 1-2500), and the source limits the Supabase CLI gives its
imgproxy (`IMGPROXY_MAX_SRC_FILE_SIZE=25000000`, `IMGPROXY_MAX_SRC_RESOLUTION=50`
megapixels), which match the hosted docs ("The image size cannot exceed 25MB", "The
image resolution cannot exceed 50MP").
"""

from __future__ import annotations

from dataclasses import dataclass

from s3proxy.imaging.errors import source_file_too_large


@dataclass(frozen=True)
class ImageLimits:
    min_size: int = 1
    max_size: int = 2000
    max_source_bytes: int = 25_000_000
    # width x height x frames, checked from the header before any pixel is decoded
    max_resolution: int = 50_000_000
    # Frames of an animated GIF/WebP that are kept. 1 (imgproxy's default) renders the
    # first frame only; more keeps the animation when the output format can hold it, at
    # a cost proportional to the frames (they count against max_resolution too). The
    # Supabase CLI runs imgproxy with 60.
    max_animation_frames: int = 1

    def clamp_side(self, value: int) -> int:
        return min(max(value, self.min_size), self.max_size)

    def check_source_size(self, size: int) -> None:
        """Refuse a source by its size alone, e.g. from the object's metadata before
        fetching its bytes (TransformError TOO_LARGE)."""
        if size > self.max_source_bytes:
            raise source_file_too_large()
