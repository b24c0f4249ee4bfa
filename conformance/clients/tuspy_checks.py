"""tuspy (PyPI `tuspy`), the Python TUS client, against `/upload/resumable` with the
headers and metadata keys Supabase documents."""

from __future__ import annotations

import io
from typing import Any

import httpx

from conformance.clients.common import payload, rest_delete_bucket, rest_http
from conformance.runner import CheckFailed, Context, check, ensure, equal, requirement
from conformance.target import Target

C = "tuspy"
MiB = 1024 * 1024


@requirement(C)
def _needs(target: Target) -> str | None:
    try:
        import tusclient  # noqa: F401
    except ImportError:
        return "tuspy not installed"
    return None if target.has_rest else "no REST endpoint configured"


def bucket(ctx: Context, **options: Any) -> str:
    http = ctx.once("http", lambda: rest_http(ctx.target))
    name = ctx.name("tuspy")
    r = http.post("bucket", json={"name": name, **options})
    ensure(r.status_code == 200, f"create bucket: {r.status_code} {r.text}")
    ctx.defer(rest_delete_bucket, http, name)
    return name


def uploader(ctx: Context, data: bytes, chunk_size: int, *, url: str | None = None,
             headers: dict[str, str] | None = None, endpoint: str = "upload/resumable", **meta: str) -> Any:
    from tusclient.client import TusClient

    auth = {"Authorization": f"Bearer {ctx.target.service_jwt}"}
    client = TusClient((ctx.target.rest_url or "") + endpoint, headers={**auth, **(headers or {})})
    return client.uploader(file_stream=io.BytesIO(data), chunk_size=chunk_size, url=url, metadata=meta,
                           store_url=False)


def download(ctx: Context, bucket_name: str, name: str) -> bytes:
    http = ctx.once("http", lambda: rest_http(ctx.target))
    r = http.get(f"object/{bucket_name}/{name}")
    equal(r.status_code, 200, f"download {name}")
    return r.content


def failure(fn: Any, what: str) -> tuple[int, str]:
    from tusclient.exceptions import TusCommunicationError

    try:
        fn()
    except TusCommunicationError as exc:
        content = exc.response_content
        return int(exc.status_code or 0), content.decode() if isinstance(content, bytes) else str(content)
    raise CheckFailed(f"{what}: expected the upload to fail")


@check(C, "uploads: 13 MiB in 6 MiB chunks with contentType and cacheControl")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(13 * MiB + 5, "tuspy-big")
    uploader(ctx, data, 6 * MiB, bucketName=b, objectName="dir/big.bin", contentType="application/x-t",
             cacheControl="60").upload()
    equal(download(ctx, b, "dir/big.bin"), data, "downloaded bytes")
    info = ctx.once("http", lambda: rest_http(ctx.target)).get(f"object/info/{b}/dir/big.bin").json()
    equal((info["content_type"], info["cache_control"]), ("application/x-t", "max-age=60"), "info")


@check(C, "uploads: the whole file in one PATCH (tuspy's default chunk size)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(21 * MiB + 1, "tuspy-one")
    up = uploader(ctx, data, 2**40, bucketName=b, objectName="one.bin")
    up.upload()
    equal(download(ctx, b, "one.bin"), data, "downloaded bytes")


@check(C, "uploads: small chunks (200 KiB)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(5 * MiB + 100_000, "tuspy-small")
    uploader(ctx, data, 200 * 1024, bucketName=b, objectName="small.bin").upload()
    equal(download(ctx, b, "small.bin"), data, "downloaded bytes")


@check(C, "resume: a second uploader continues the first one's URL")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(13 * MiB, "tuspy-resume")
    first = uploader(ctx, data, 6 * MiB, bucketName=b, objectName="r.bin")
    first.upload(stop_at=6 * MiB)
    second = uploader(ctx, data, 6 * MiB, url=first.url, bucketName=b, objectName="r.bin")
    equal(second.offset, 6 * MiB, "offset the server reports")
    second.upload()
    equal(download(ctx, b, "r.bin"), data, "downloaded bytes")


@check(C, "errors: the bucket size limit gives 413 Maximum size exceeded")
def _(ctx: Context) -> None:
    b = bucket(ctx, file_size_limit=1024 * 1024)
    up = uploader(ctx, payload(2 * MiB), 6 * MiB, bucketName=b, objectName="big.bin")
    equal(failure(up.upload, "too large"), (413, "Maximum size exceeded"), "status and body")


@check(C, "errors: an existing object without x-upsert gives 409; with x-upsert it is replaced")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    uploader(ctx, b"first", 6 * MiB, bucketName=b, objectName="dup.bin").upload()
    up = uploader(ctx, b"second", 6 * MiB, bucketName=b, objectName="dup.bin")
    equal(failure(up.upload, "duplicate")[0], 409, "status")
    uploader(ctx, b"second", 6 * MiB, headers={"x-upsert": "true"}, bucketName=b, objectName="dup.bin").upload()
    equal(download(ctx, b, "dup.bin"), b"second", "upserted bytes")


@check(C, "signed: an upload token from /object/upload/sign as x-signature")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    http = ctx.once("http", lambda: rest_http(ctx.target))
    token = http.post(f"object/upload/sign/{b}/signed.bin", json={}).json()["token"]
    from tusclient.client import TusClient

    client = TusClient((ctx.target.rest_url or "") + "upload/resumable/sign", headers={"x-signature": token})
    data = payload(6 * MiB + 1, "tuspy-signed")
    client.uploader(file_stream=io.BytesIO(data), chunk_size=6 * MiB, store_url=False,
                    metadata={"bucketName": b, "objectName": "signed.bin"}).upload()
    equal(download(ctx, b, "signed.bin"), data, "downloaded bytes")


@check(C, "protocol: HEAD reports the offset, DELETE terminates")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(7 * MiB, "tuspy-head")
    up = uploader(ctx, data, 6 * MiB, bucketName=b, objectName="h.bin")
    up.upload(stop_at=6 * MiB)
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {ctx.target.service_jwt}"}
    head = httpx.head(up.url, headers=headers)
    equal((head.status_code, head.headers.get("upload-offset"), head.headers.get("upload-length")),
          (200, str(6 * MiB), str(len(data))), "HEAD")
    equal(httpx.delete(up.url, headers=headers).status_code, 204, "DELETE")
    equal(httpx.head(up.url, headers=headers).status_code, 404, "HEAD after DELETE")
