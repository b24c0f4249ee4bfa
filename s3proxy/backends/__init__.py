"""Byte stores behind one interface: a local directory or an upstream S3 bucket."""

from s3proxy.backends.base import Backend
from s3proxy.config import Settings


def make_backend(settings: Settings) -> Backend:
    """The configured byte store (`STORAGE_BACKEND`)."""
    if settings.storage_backend == "file":
        from s3proxy.backends.file import FileBackend

        return FileBackend(settings.file_backend_path)
    if settings.storage_backend == "s3":
        from s3proxy.backends.s3 import S3Backend

        return S3Backend(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            force_path_style=settings.s3_force_path_style,
            part_size=settings.s3_part_size,
            ca_bundle=settings.s3_ca_bundle,
        )
    raise SystemExit(f"unknown STORAGE_BACKEND {settings.storage_backend!r} (file | s3)")
