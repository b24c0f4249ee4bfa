"""storage3, the Supabase Python client, against the Supabase Storage REST API."""

from __future__ import annotations

import time
from typing import Any

import httpx

from conformance.clients.common import (
    DEEP_KEY,
    PAGED_COUNT,
    UNICODE_KEY,
    image_size,
    paged_rest_bucket,
    payload,
    rest_delete_bucket,
    rest_http,
    sample_jpeg,
)
from conformance.runner import CheckFailed, Context, check, ensure, equal, raises, requirement
from conformance.target import Target

C = "storage3"


@requirement(C)
def _needs(target: Target) -> str | None:
    try:
        import storage3  # noqa: F401
    except ImportError:
        return "storage3 not installed"
    return None if target.has_rest else "no REST endpoint configured"


def sc(ctx: Context) -> Any:
    from storage3 import SyncStorageClient

    return ctx.once("storage3", lambda: SyncStorageClient(ctx.target.rest_url or "", ctx.target.rest_headers()))


def bucket(ctx: Context, **options: Any) -> str:
    """A fresh bucket made with storage3, removed (with its objects) after the check."""
    name = ctx.name("s3py")
    equal(sc(ctx).create_bucket(name, options=options or None), {"name": name}, "create_bucket response")
    http = ctx.once("http", lambda: rest_http(ctx.target))
    ctx.defer(rest_delete_bucket, http, name)
    return name


def api_error(fn: Any, status: str, what: str) -> Any:
    from storage3.exceptions import StorageApiError

    exc = raises(fn, what)
    if not isinstance(exc, StorageApiError):
        raise CheckFailed(f"{what}: expected StorageApiError, got {type(exc).__name__}: {exc}")
    equal(str(exc.status), status, f"{what}: error status")
    ensure(exc.message, f"{what}: error has a message")
    return exc


# --- buckets ----------------------------------------------------------------------------


@check(C, "buckets: create_bucket then get_bucket returns it, private by default")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    got = sc(ctx).get_bucket(b)
    equal((got.id, got.name, got.public), (b, b, False), "id, name, public")


@check(C, "buckets: list_buckets includes a new bucket")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    ensure(b in [x.id for x in sc(ctx).list_buckets()], "bucket listed")


@check(C, "buckets: a public bucket reports public=True")
def _(ctx: Context) -> None:
    equal(sc(ctx).get_bucket(bucket(ctx, public=True)).public, True, "public")


@check(C, "buckets: update_bucket changes public, size limit and mime types")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).update_bucket(b, {"public": True, "file_size_limit": 1000, "allowed_mime_types": ["image/png"]})
    got = sc(ctx).get_bucket(b)
    equal((got.public, got.file_size_limit, got.allowed_mime_types), (True, 1000, ["image/png"]), "bucket")


@check(C, "buckets: creating an existing bucket fails with status 409")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    api_error(lambda: sc(ctx).create_bucket(b), "409", "create_bucket twice")


@check(C, "buckets: get_bucket of a missing bucket fails with status 404")
def _(ctx: Context) -> None:
    api_error(lambda: sc(ctx).get_bucket(ctx.name("missing")), "404", "get_bucket")


@check(C, "buckets: delete_bucket of a non-empty bucket fails with status 409")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("k.txt", b"x")
    api_error(lambda: sc(ctx).delete_bucket(b), "409", "delete_bucket")


@check(C, "buckets: empty_bucket then delete_bucket removes it")
def _(ctx: Context) -> None:
    name = ctx.name("s3py")
    sc(ctx).create_bucket(name)
    for i in range(3):
        sc(ctx).from_(name).upload(f"f{i}.txt", b"x")
    ensure("message" in sc(ctx).empty_bucket(name), "empty_bucket answers a message")
    for _ in range(40):
        if not sc(ctx).from_(name).list():
            break
        time.sleep(0.25)
    ensure("message" in sc(ctx).delete_bucket(name), "delete_bucket answers a message")
    api_error(lambda: sc(ctx).get_bucket(name), "404", "get_bucket after delete")


@check(C, "buckets: file_size_limit rejects a larger upload with status 413")
def _(ctx: Context) -> None:
    b = bucket(ctx, file_size_limit=10)
    api_error(lambda: sc(ctx).from_(b).upload("big.txt", b"x" * 20), "413", "upload over the limit")
    sc(ctx).from_(b).upload("ok.txt", b"x" * 10)


@check(C, "buckets: allowed_mime_types rejects other types with status 415")
def _(ctx: Context) -> None:
    b = bucket(ctx, allowed_mime_types=["image/png"])
    api_error(lambda: sc(ctx).from_(b).upload("a.txt", b"x", {"content-type": "text/plain"}), "415", "upload text")
    sc(ctx).from_(b).upload("a.png", b"\x89PNG", {"content-type": "image/png"})


# --- uploads ----------------------------------------------------------------------------


def round_trip(ctx: Context, key: str, data: bytes) -> None:
    b = bucket(ctx)
    res = sc(ctx).from_(b).upload(key, data)
    equal(res.full_path, f"{b}/{key}", "upload full_path")
    ensure(sc(ctx).from_(b).download(key) == data, f"downloaded bytes of {key!r} equal")


@check(C, "uploads: small file round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, "hello.txt", b"hello from storage3")


@check(C, "uploads: empty file round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, "empty.txt", b"")


@check(C, "uploads: unicode key round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, UNICODE_KEY, b"unicode")


@check(C, "uploads: 20-level deep key round-trips")
def _(ctx: Context) -> None:
    round_trip(ctx, DEEP_KEY, b"deep")


@check(C, "uploads: 8 MiB file round-trips", timeout=180)
def _(ctx: Context) -> None:
    round_trip(ctx, "big.bin", payload(8 * 1024 * 1024, "s3py"))


@check(C, "uploads: uploading an existing path without upsert fails with status 409")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("dup.txt", b"one")
    api_error(lambda: sc(ctx).from_(b).upload("dup.txt", b"two"), "409", "second upload")
    equal(sc(ctx).from_(b).download("dup.txt"), b"one", "content unchanged")


@check(C, "uploads: upsert overwrites an existing path")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("u.txt", b"one")
    sc(ctx).from_(b).upload("u.txt", b"two", {"upsert": "true"})
    equal(sc(ctx).from_(b).download("u.txt"), b"two", "content")


@check(C, "uploads: update replaces the content of an existing file")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("u.txt", b"one")
    sc(ctx).from_(b).update("u.txt", b"updated")
    equal(sc(ctx).from_(b).download("u.txt"), b"updated", "content")


# --- metadata ---------------------------------------------------------------------------


@check(C, "metadata: info reports size, content type and an ETag")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("i.json", b'{"a":1}', {"content-type": "application/json"})
    info = sc(ctx).from_(b).info("i.json")
    equal((info.get("size"), info.get("content_type")), (7, "application/json"), "size, content_type")
    ensure(info.get("etag"), "etag present")
    equal(info.get("name"), "i.json", "name")


@check(C, "metadata: user metadata round-trips through info")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    meta = {"author": "conformance", "n": 3, "nested": {"ok": True}}
    sc(ctx).from_(b).upload("m.txt", b"x", {"metadata": meta})
    equal(sc(ctx).from_(b).info("m.txt").get("metadata"), meta, "metadata")


@check(C, "metadata: cache-control seconds are stored as max-age")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("c.txt", b"x", {"cache-control": "120"})
    equal(sc(ctx).from_(b).info("c.txt").get("cache_control"), "max-age=120", "cache_control")


@check(C, "downloads: exists is True for a file and False for a missing one")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("e.txt", b"x")
    equal((sc(ctx).from_(b).exists("e.txt"), sc(ctx).from_(b).exists("nope.txt")), (True, False), "exists")


@check(C, "downloads: downloading a missing file fails with status 404")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    api_error(lambda: sc(ctx).from_(b).download("nope.txt"), "404", "download")


# --- listing ----------------------------------------------------------------------------


def tree(ctx: Context) -> str:
    b = bucket(ctx)
    for k in ("a.txt", "Beta.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "sort/a.txt", "sort/B.txt", "sort/c.txt"):
        sc(ctx).from_(b).upload(k, k.encode())
    return b


@check(C, "listing: list(folder) shows one level, names relative, folders without id")
def _(ctx: Context) -> None:
    b = tree(ctx)
    entries = sc(ctx).from_(b).list("dir")
    equal(sorted(e["name"] for e in entries), ["b.txt", "c.txt", "sub"], "names")
    equal([e["id"] for e in entries if e["name"] == "sub"], [None], "folder id")
    ensure(all(e["id"] for e in entries if e["name"] != "sub"), "files have ids")


@check(C, "listing: list search matches names by prefix, case-insensitively")
def _(ctx: Context) -> None:
    b = tree(ctx)
    equal([e["name"] for e in sc(ctx).from_(b).list("", {"search": "be"})], ["Beta.txt"], "names")


@check(C, "listing: list sortBy name desc orders names case-insensitively, reversed")
def _(ctx: Context) -> None:
    b = tree(ctx)
    names = [e["name"] for e in sc(ctx).from_(b).list("sort", {"sortBy": {"column": "name", "order": "desc"}})]
    equal(names, ["c.txt", "B.txt", "a.txt"], "names")


@check(C, "listing: list with limit/offset pages through >1000 files", timeout=240)
def _(ctx: Context) -> None:
    b = paged_rest_bucket(ctx)
    seen: list[str] = []
    for offset in range(0, PAGED_COUNT + 400, 400):
        page = sc(ctx).from_(b).list("p", {"limit": 400, "offset": offset})
        seen += [e["name"] for e in page]
        if len(page) < 400:
            break
    equal(len(seen), PAGED_COUNT, "files seen")
    equal(seen, [f"{i:04d}" for i in range(PAGED_COUNT)], "names in order")


@check(C, "listing: list_v2 with_delimiter returns folders and objects separately")
def _(ctx: Context) -> None:
    b = tree(ctx)
    res = sc(ctx).from_(b).list_v2({"with_delimiter": True, "prefix": "dir/"})
    equal([f.name for f in res.folders], ["dir/sub/"], "folders")
    equal([o.name for o in res.objects], ["dir/b.txt", "dir/c.txt"], "objects")


@check(C, "listing: list_v2 without delimiter lists full keys under a prefix")
def _(ctx: Context) -> None:
    b = tree(ctx)
    res = sc(ctx).from_(b).list_v2({"prefix": "dir/"})
    equal([o.name for o in res.objects], ["dir/b.txt", "dir/c.txt", "dir/sub/d.txt"], "objects")
    equal(res.hasNext, False, "hasNext")


@check(C, "listing: list_v2 cursor pages through >1000 files", timeout=240)
def _(ctx: Context) -> None:
    b = paged_rest_bucket(ctx)
    seen: list[str] = []
    opts: dict[str, Any] = {"limit": 1000, "prefix": "p/"}
    for _ in range(5):
        res = sc(ctx).from_(b).list_v2(opts)
        seen += [o.name for o in res.objects]
        if not res.hasNext:
            break
        ensure(res.nextCursor, "nextCursor when hasNext")
        opts = {**opts, "cursor": res.nextCursor}
    equal(len(seen), PAGED_COUNT, "files seen")
    equal(len(set(seen)), PAGED_COUNT, "distinct files")


# --- copy, move, delete -----------------------------------------------------------------


@check(C, "copy: copy duplicates a file and keeps the source")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("src.json", b"{}", {"content-type": "application/json"})
    sc(ctx).from_(b).copy("src.json", "dst/copy.json")
    equal(sc(ctx).from_(b).download("dst/copy.json"), b"{}", "copy")
    equal(sc(ctx).from_(b).download("src.json"), b"{}", "source")
    equal(sc(ctx).from_(b).info("dst/copy.json").get("content_type"), "application/json", "content type copied")


@check(C, "copy: copying a missing file fails with status 404")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    api_error(lambda: sc(ctx).from_(b).copy("none.txt", "x.txt"), "404", "copy")


@check(C, "move: move renames a file (source gone)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("from.txt", b"moving")
    equal(sc(ctx).from_(b).move("from.txt", "to/here.txt").get("message"), "Successfully moved", "message")
    equal(sc(ctx).from_(b).download("to/here.txt"), b"moving", "destination")
    equal(sc(ctx).from_(b).exists("from.txt"), False, "source exists")


@check(C, "move: moving onto an existing file fails with status 409")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("a.txt", b"a")
    sc(ctx).from_(b).upload("b.txt", b"b")
    api_error(lambda: sc(ctx).from_(b).move("a.txt", "b.txt"), "409", "move")


@check(C, "delete: remove of one file makes it unavailable")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    sc(ctx).from_(b).upload("r.txt", b"x")
    sc(ctx).from_(b).remove(["r.txt"])
    equal(sc(ctx).from_(b).exists("r.txt"), False, "exists")


@check(C, "delete: remove of a batch returns the deleted files, skipping missing ones")
def _(ctx: Context) -> None:
    b = tree(ctx)
    out = sc(ctx).from_(b).remove(["a.txt", "dir/b.txt", "missing.txt"])
    equal(sorted(o["name"] for o in out), ["a.txt", "dir/b.txt"], "deleted names")
    equal(sc(ctx).from_(b).remove(["missing.txt"]), [], "removing only missing files")


# --- signed and public URLs -------------------------------------------------------------


def signed_bucket(ctx: Context, **options: Any) -> str:
    b = bucket(ctx, **options)
    sc(ctx).from_(b).upload("folder/s.txt", b"signed content", {"content-type": "text/plain"})
    return b


@check(C, "signed URLs: create_signed_url downloads without credentials")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx)
    url = sc(ctx).from_(b).create_signed_url("folder/s.txt", 60)["signedURL"]
    r = httpx.get(url, timeout=30)
    equal((r.status_code, r.content), (200, b"signed content"), "GET")


@check(C, "signed URLs: the download option makes the response an attachment")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx)
    url = sc(ctx).from_(b).create_signed_url("folder/s.txt", 60, {"download": "named.txt"})["signedURL"]
    r = httpx.get(url, timeout=30)
    equal(r.status_code, 200, "status")
    cd = r.headers.get("content-disposition", "")
    ensure(cd.startswith("attachment") and "named.txt" in cd, f"content-disposition {cd!r}")


@check(C, "signed URLs: an expired signed URL is refused")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx)
    url = sc(ctx).from_(b).create_signed_url("folder/s.txt", 1)["signedURL"]
    time.sleep(2.5)
    ensure(httpx.get(url, timeout=30).status_code >= 400, "expired URL refused")


@check(C, "signed URLs: create_signed_urls signs many paths and flags missing ones")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx)
    out = sc(ctx).from_(b).create_signed_urls(["folder/s.txt", "nope.txt"], 60)
    equal([o["path"] for o in out], ["folder/s.txt", "nope.txt"], "paths in request order")
    equal(httpx.get(out[0]["signedURL"], timeout=30).content, b"signed content", "first URL works")
    ensure(out[1]["error"] and not out[1]["signedURL"], f"missing path flagged: {out[1]}")


@check(C, "signed URLs: signed upload URL accepts an upload without credentials")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    signed = sc(ctx).from_(b).create_signed_upload_url("up/file.txt")
    sc(ctx).from_(b).upload_to_signed_url("up/file.txt", signed["token"], b"uploaded via token")
    equal(sc(ctx).from_(b).download("up/file.txt"), b"uploaded via token", "content")


@check(C, "signed URLs: a signed upload token does not work for another path")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    token = sc(ctx).from_(b).create_signed_upload_url("one.txt")["token"]
    raises(lambda: sc(ctx).from_(b).upload_to_signed_url("other.txt", token, b"x"), "upload to another path")
    equal(sc(ctx).from_(b).exists("other.txt"), False, "other.txt exists")


@check(C, "signed URLs: get_public_url serves a public bucket's file anonymously")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx, public=True)
    r = httpx.get(sc(ctx).from_(b).get_public_url("folder/s.txt"), timeout=30)
    equal((r.status_code, r.content), (200, b"signed content"), "GET")


@check(C, "signed URLs: get_public_url of a private bucket's file is refused")
def _(ctx: Context) -> None:
    b = signed_bucket(ctx)
    ensure(httpx.get(sc(ctx).from_(b).get_public_url("folder/s.txt"), timeout=30).status_code >= 400, "refused")


# --- render (image transformations) -----------------------------------------------------------


def _image_bucket(ctx: Context, **options: Any) -> tuple[str, bytes]:
    b = bucket(ctx, **options)
    source = ctx.once("sample-jpeg", sample_jpeg)
    sc(ctx).from_(b).upload("pics/photo.jpg", source, {"content-type": "image/jpeg"})
    return b, source


@check(C, "render: download with transform returns a smaller image of the asked width")
def _(ctx: Context) -> None:
    b, source = _image_bucket(ctx)
    small = sc(ctx).from_(b).download("pics/photo.jpg", {"transform": {"width": 200}})
    equal(image_size(small), (200, 150), "rendered size")
    ensure(len(small) < len(source), f"rendered {len(small)} bytes, source {len(source)}")
    fitted = sc(ctx).from_(b).download("pics/photo.jpg",
                                       {"transform": {"width": 100, "height": 100, "resize": "contain"}})
    equal(image_size(fitted), (100, 75), "contain 100x100")


@check(C, "render: create_signed_url with transform serves a transformed image")
def _(ctx: Context) -> None:
    b, _ = _image_bucket(ctx)
    signed = sc(ctx).from_(b).create_signed_url("pics/photo.jpg", 60, {"transform": {"width": 120, "height": 120}})
    r = httpx.get(signed["signedURL"], timeout=60)
    equal(r.status_code, 200, "GET signed URL")
    equal(image_size(r.content), (120, 120), "rendered size (cover)")


@check(C, "render: get_public_url with transform renders from a public bucket")
def _(ctx: Context) -> None:
    b, _ = _image_bucket(ctx, public=True)
    r = httpx.get(sc(ctx).from_(b).get_public_url("pics/photo.jpg", {"transform": {"width": 80}}), timeout=60)
    equal(r.status_code, 200, "GET public render URL")
    equal(image_size(r.content), (80, 60), "rendered size")
