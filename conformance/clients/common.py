"""Helpers shared by the client modules: configured clients, shared fixtures, data."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from conformance.runner import CheckFailed, Context, Shared
from conformance.target import Target

PAGED_COUNT = 1010  # > 1000, so every listing API has to paginate
UNICODE_KEY = "unicode/Grüße aus Köln — 日本語ファイル ✓.txt"
DEEP_KEY = "/".join(f"d{i}" for i in range(1, 21)) + "/leaf.bin"
SPECIAL_KEY = "special/with space+plus=eq&amp(paren)!,;@$.txt"


def payload(size: int, seed: str = "x") -> bytes:
    """Deterministic, non-repeating-looking bytes of the given size."""
    block = hashlib.sha256(seed.encode()).digest() * 64  # 2 KiB
    reps = size // len(block) + 1
    return (block * reps)[:size]


def sample_jpeg(width: int = 800, height: int = 600) -> bytes:
    """A photo-like JPEG (gradients plus noise) for the render checks, made with libvips."""
    import pyvips

    xyz = pyvips.Image.xyz(width, height)
    noise = pyvips.Image.gaussnoise(width, height, mean=0, sigma=25, seed=3)
    bands = [(xyz[0] * 255 / width + noise).cast("uchar"), (xyz[1] * 255 / height).cast("uchar"),
             ((xyz[0] + xyz[1]) * 128 / (width + height) + noise).cast("uchar")]
    return bytes(bands[0].bandjoin(bands[1:]).copy(interpretation="srgb").jpegsave_buffer(Q=90))


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image; CheckFailed when it is not one."""
    import pyvips

    try:
        image = pyvips.Image.new_from_buffer(data, "")
    except pyvips.Error as exc:
        raise CheckFailed(f"not an image ({len(data)} bytes, starts {data[:16]!r}): {exc}") from exc
    return int(image.width), int(image.height)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - ETag comparison, not security


def s3_client(target: Target, **config: Any) -> Any:
    """A boto3 S3 client for the target (current botocore defaults unless overridden)."""
    import boto3
    from botocore.config import Config

    if not target.has_s3:
        raise CheckFailed("no S3 endpoint configured")
    return boto3.client(
        "s3", endpoint_url=target.s3_url, aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key, region_name=target.region,
        config=Config(s3={"addressing_style": target.addressing_style}, signature_version="s3v4",
                      retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10,
                      read_timeout=60, max_pool_connections=20, **config),
    )


def s3_error(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, error code) of a botocore ClientError."""
    resp = getattr(exc, "response", None)
    if not isinstance(resp, dict):
        raise CheckFailed(f"expected a ClientError, got {type(exc).__name__}: {exc}")
    return int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)), str(resp.get("Error", {}).get("Code", ""))


def empty_s3_bucket(s3: Any, bucket: str, delete_bucket: bool = True) -> None:
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, **token)
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    try:
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    except Exception:  # noqa: BLE001 - best effort
        pass
    if delete_bucket:
        s3.delete_bucket(Bucket=bucket)


def s3_bucket(ctx: Context, hint: str = "b") -> str:
    """A fresh bucket made through S3, removed with its contents after the check."""
    s3 = ctx.once("boto3", lambda: s3_client(ctx.target))
    name = ctx.name(hint)
    s3.create_bucket(Bucket=name)
    ctx.defer(empty_s3_bucket, s3, name)
    return name


def paged_s3_bucket(ctx: Context) -> str:
    """A bucket holding PAGED_COUNT keys `p/0000…`, made once per target through S3."""

    def build(shared: Shared) -> str:
        s3 = s3_client(shared.target)
        name = f"cf-paged-s3-{os.urandom(4).hex()}"
        s3.create_bucket(Bucket=name)
        shared.at_end(lambda: empty_s3_bucket(s3, name))
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=name, Key=f"p/{i:04d}", Body=b"p"), range(PAGED_COUNT)))
        return name

    return str(ctx.shared.get("paged-s3", build))


def rest_http(target: Target, token: str | None = None) -> httpx.Client:
    if not target.has_rest:
        raise CheckFailed("no REST endpoint configured")
    return httpx.Client(base_url=target.rest_url or "", headers=target.rest_headers(token), timeout=60)


def rest_delete_bucket(http: httpx.Client, bucket: str) -> None:
    """Remove every object (listing + batch delete), then the bucket."""
    for _ in range(50):
        r = http.post(f"object/list-v2/{bucket}", json={"limit": 1000})
        names = [o["name"] for o in r.json().get("objects", [])] if r.status_code == 200 else []
        if not names:
            break
        for i in range(0, len(names), 500):
            http.request("DELETE", f"object/{bucket}", json={"prefixes": names[i:i + 500]})
    http.delete(f"bucket/{bucket}")


def paged_rest_bucket(ctx: Context) -> str:
    """A bucket holding PAGED_COUNT keys `p/0000…`, made once per target through REST."""

    def build(shared: Shared) -> str:
        http = rest_http(shared.target)
        name = f"cf-paged-rest-{os.urandom(4).hex()}"
        r = http.post("bucket", json={"name": name})
        if r.status_code != 200:
            raise CheckFailed(f"create bucket: {r.status_code} {r.text[:200]}")
        shared.at_end(lambda: rest_delete_bucket(http, name))

        def put(i: int) -> None:
            resp = http.post(f"object/{name}/p/{i:04d}", content=b"p",
                             headers={"content-type": "text/plain"})
            if resp.status_code != 200:
                raise CheckFailed(f"upload p/{i:04d}: {resp.status_code} {resp.text[:200]}")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(PAGED_COUNT)))
        return name

    return str(ctx.shared.get("paged-rest", build))
