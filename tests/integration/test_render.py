"""Image rendering over HTTP (reference §2.4, §2.3 "Signed URLs" and "Info and HEAD", §6):
the three `/render/image` routes, resize modes, format negotiation, signed transform URLs
and their tokens, storage3's transform options, limits and refusals, on both backends."""

from __future__ import annotations

import base64
import json
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import psutil
import pytest
import pyvips
from storage3 import SyncStorageClient

from tests.integration.test_rest_rls import owned_bucket, user  # noqa: F401 - fixture
from tests.integration.wire import BACKENDS, backend_upstream, own_server
from tests.rig import Postgres, Server

INVALID_SOURCE = {"statusCode": "400", "error": "InvalidRequest", "code": "InvalidRequest",
                  "message": "The source image is invalid or unsupported for rendering"}


def photo(width: int = 400, height: int = 300, fmt: str = ".jpg") -> bytes:
    """A gradient image with some detail, so quality settings change its encoded size."""
    xyz = pyvips.Image.xyz(width, height)
    noise = pyvips.Image.gaussnoise(width, height, mean=0, sigma=30, seed=7)
    bands = [(xyz[0] * 255 / width + noise).cast("uchar"), (xyz[1] * 255 / height).cast("uchar"),
             ((xyz[0] + xyz[1]) * 128 / (width + height) + noise).cast("uchar")]
    image = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
    return bytes(image.write_to_buffer(fmt))


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims width x height (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def upload(http: httpx.Client, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg",
           cache_control: str | None = None) -> None:
    headers = {"Content-Type": content_type, "x-upsert": "true"}
    if cache_control:
        headers["cache-control"] = cache_control
    r = http.post(f"object/{bucket}/{key}", content=data, headers=headers)
    assert r.status_code == 200, r.text


@pytest.fixture
def public_bucket(http: httpx.Client, unique: str) -> Iterator[str]:
    name = f"pub-{unique}"
    assert http.post("bucket", json={"name": name, "public": True}).status_code == 200
    yield name
    http.post(f"bucket/{name}/empty", json={})
    http.delete(f"bucket/{name}")


@pytest.fixture
def client(server: Server) -> Iterator[SyncStorageClient]:
    tok = server.service_token
    with SyncStorageClient(server.url, {"Authorization": f"Bearer {tok}", "apikey": tok}) as storage:
        yield storage


def render(http: httpx.Client, bucket: str, key: str, accept: str = "image/jpeg,*/*", **query: Any) -> httpx.Response:
    return http.get(f"render/image/authenticated/{bucket}/{key}", params=query, headers={"Accept": accept})


# --- the routes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "size", "segments"), [
    ({"width": 100, "height": 100, "resize": "cover"}, (100, 100), "height:100,width:100,resizing_type:fill"),
    ({"width": 100, "height": 100, "resize": "contain"}, (100, 75), "height:100,width:100,resizing_type:fit"),
    ({"width": 100, "height": 100, "resize": "fill"}, (100, 100), "height:100,width:100,resizing_type:force"),
    ({"width": 100, "height": 100}, (100, 100), "height:100,width:100,resizing_type:fill"),
    ({"width": 100}, (100, 75), "width:100,resizing_type:fill"),
    ({"height": 150, "resize": "contain"}, (200, 150), "height:150,resizing_type:fit"),
    ({"width": 800}, (400, 300), "width:800,resizing_type:fill"),  # never enlarged
    ({"width": 5000}, (400, 300), "width:2000,resizing_type:fill"),  # clamped to the maximum
])
def test_resize_modes(http: httpx.Client, bucket: str, query: dict[str, Any], size: tuple[int, int],
                      segments: str) -> None:
    upload(http, bucket, "photo.jpg", photo(), cache_control="max-age=600")
    source = http.head(f"object/{bucket}/photo.jpg")
    r = render(http, bucket, "photo.jpg", **query)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert size_of(r.content) == size
    assert r.headers["content-length"] == str(len(r.content))
    assert r.headers["x-transformations"] == segments
    assert r.headers["etag"] == source.headers["etag"]
    assert r.headers["last-modified"] == source.headers["last-modified"]
    assert r.headers["cache-control"] == "max-age=600"


def test_output_format_follows_accept_unless_told(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "p.jpg", photo())
    webp = render(http, bucket, "p.jpg", accept="image/avif,image/webp,*/*", width=120)
    assert webp.headers["content-type"] == "image/webp" and webp.content[8:12] == b"WEBP"
    assert webp.headers["vary"] == "Accept"
    assert size_of(webp.content) == (120, 90)
    plain = render(http, bucket, "p.jpg", accept="*/*", width=120)
    assert plain.headers["content-type"] == "image/jpeg" and plain.content[:2] == b"\xff\xd8"
    origin = render(http, bucket, "p.jpg", accept="image/webp,*/*", width=120, format="origin")
    assert origin.headers["content-type"] == "image/jpeg" and "vary" not in origin.headers
    forced = render(http, bucket, "p.jpg", accept="*/*", width=120, format="webp")
    assert forced.headers["content-type"] == "image/webp"
    assert forced.headers["x-transformations"] == "width:120,resizing_type:fill,format:webp"
    avif = render(http, bucket, "p.jpg", accept="*/*", width=60, format="avif")
    assert avif.headers["content-type"] == "image/avif" and size_of(avif.content) == (60, 45)
    upload(http, bucket, "p.png", photo(fmt=".png"), content_type="image/png")
    png = render(http, bucket, "p.png", width=50, format="origin")
    assert png.headers["content-type"] == "image/png" and size_of(png.content) == (50, 38)


def test_quality(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "q.jpg", photo())
    low = render(http, bucket, "q.jpg", quality=20)
    high = render(http, bucket, "q.jpg", quality=95)
    assert low.status_code == high.status_code == 200
    assert len(low.content) * 2 < len(high.content)
    assert low.headers["x-transformations"] == "quality:20"
    r = render(http, bucket, "q.jpg", quality=10)
    assert r.status_code == 400 and r.json() == {
        "statusCode": "400", "error": "InvalidRequest", "code": "InvalidRequest",
        "message": "querystring/quality must be >= 20"}


def test_bad_parameters_are_the_reference_400(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "b.jpg", photo())
    for query, message in (({"width": "abc"}, "querystring/width must be integer"),
                           ({"resize": "stretch"}, "querystring/resize must be equal to one of the allowed values"),
                           ({"format": "png"}, "querystring/format must be equal to one of the allowed values")):
        r = render(http, bucket, "b.jpg", **query)
        assert r.status_code == 400 and r.json()["message"] == message, r.text


def test_public_route_needs_a_public_bucket(server: Server, http: httpx.Client, bucket: str,
                                            public_bucket: str) -> None:
    upload(http, public_bucket, "pub.jpg", photo())
    upload(http, bucket, "priv.jpg", photo())
    anon = httpx.Client(base_url=server.url)
    r = anon.get(f"render/image/public/{public_bucket}/pub.jpg", params={"width": 40})
    assert r.status_code == 200 and size_of(r.content) == (40, 30)
    r = anon.get(f"render/image/public/{bucket}/priv.jpg", params={"width": 40})
    assert r.status_code == 400 and r.json()["code"] == "NoSuchBucket"
    # the authenticated route wants a token, even for a public bucket
    r = anon.get(f"render/image/authenticated/{public_bucket}/pub.jpg", params={"width": 40})
    assert r.status_code == 400 and r.json()["statusCode"] == "400"
    assert "authorization" in r.json()["message"]
    r = http.get(f"render/image/public/{public_bucket}/missing.jpg")
    assert r.status_code == 400 and r.json()["code"] == "NoSuchKey"


def test_head_download_and_conditional_requests(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "h.jpg", photo())
    got = render(http, bucket, "h.jpg", width=64)
    head = http.head(f"render/image/authenticated/{bucket}/h.jpg", params={"width": 64})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "image/jpeg"
    assert head.headers["content-length"] == got.headers["content-length"]
    dl = render(http, bucket, "h.jpg", width=64, download="small.jpg")
    assert dl.headers["content-disposition"] == "attachment; filename=small.jpg; filename*=UTF-8''small.jpg"
    assert render(http, bucket, "h.jpg", width=64, download="").headers["content-disposition"] == "attachment;"
    again = http.get(f"render/image/authenticated/{bucket}/h.jpg", params={"width": 64},
                     headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == got.headers["etag"] and again.headers["vary"] == "Accept"
    other = http.get(f"render/image/authenticated/{bucket}/h.jpg", params={"width": 64},
                     headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.headers["cache-control"].endswith("stale-while-revalidate=30")


def test_info_and_head_only_echo_the_transformation(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "i.jpg", photo())
    info = http.get(f"object/info/{bucket}/i.jpg", params={"width": 100, "resize": "contain"})
    assert info.status_code == 200 and info.json()["size"] == len(photo())
    assert info.headers["x-transformations"] == "width:100,resizing_type:fit"
    head = http.head(f"object/{bucket}/i.jpg", params={"width": 100, "height": 5000})
    assert head.headers["x-transformations"] == "height:2000,width:100,resizing_type:fill"
    assert head.headers["content-length"] == str(len(photo()))
    assert "x-transformations" not in http.head(f"object/{bucket}/i.jpg").headers
    assert "x-transformations" not in http.get(f"object/info/{bucket}/i.jpg").headers
    # the bytes themselves are never transformed by /object
    assert http.get(f"object/{bucket}/i.jpg", params={"width": 100}).content == photo()


# --- signed URLs ----------------------------------------------------------------------------


def _claims(server: Server, signed_url: str) -> dict[str, Any]:
    return pyjwt.decode(signed_url.split("token=", 1)[1], server.jwt_secret, algorithms=["HS256"])


def test_signed_transform_url_round_trip(server: Server, http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "dir/s.jpg", photo())
    r = http.post(f"object/sign/{bucket}/dir/s.jpg", json={"expiresIn": 60, "transform": {"width": 100}})
    assert r.status_code == 200, r.text
    url = r.json()["signedURL"]
    assert url.startswith(f"/render/image/sign/{bucket}/dir/s.jpg?token=")
    claims = _claims(server, url)
    assert claims["transformations"] == "width:100,resize:undefined" and "format" not in claims
    anon = httpx.Client(base_url=server.url)
    got = anon.get(url[1:], headers={"Accept": "image/webp"})
    assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
    assert size_of(got.content) == (100, 75)
    assert "cache-control" not in got.headers and "expires" in got.headers
    assert got.headers["x-transformations"] == "width:100,resizing_type:fill"
    # query parameters cannot change what the token says
    assert size_of(anon.get(url[1:] + "&width=300&height=10").content) == (100, 75)
    dl = anon.get(url[1:] + "&download=a.jpg")
    assert dl.headers["content-disposition"].startswith("attachment; filename=a.jpg")

    r = http.post(f"object/sign/{bucket}/dir/s.jpg", json={
        "expiresIn": 60, "transform": {"width": 80, "height": 80, "resize": "contain", "format": "origin",
                                       "quality": 50}})
    url = r.json()["signedURL"]
    claims = _claims(server, url)
    assert (claims["transformations"], claims["format"]) == ("height:80,width:80,resize:contain,quality:50",
                                                             "origin")
    got = anon.get(url[1:], headers={"Accept": "image/webp"})
    assert got.headers["content-type"] == "image/jpeg" and size_of(got.content) == (80, 60)

    # focal-point gravity with offsets, only through signed transforms
    r = http.post(f"object/sign/{bucket}/dir/s.jpg", json={
        "expiresIn": 60, "transform": {"width": 50, "height": 50, "gravity": "fp", "x_offset": 0.1, "y_offset": 0.9}})
    assert _claims(server, r.json()["signedURL"])["transformations"] == (
        "height:50,width:50,resize:undefined,gravity:fp:0.1:0.9")
    assert size_of(anon.get(r.json()["signedURL"][1:]).content) == (50, 50)
    r = http.post(f"object/sign/{bucket}/dir/s.jpg", json={"expiresIn": 60,
                                                          "transform": {"width": 50, "gravity": "fp"}})
    assert r.status_code == 400 and r.json()["code"] == "InvalidRequest"

    # no transform (or only format=origin, no segments): the plain signed download, unchanged
    for body in ({"expiresIn": 60}, {"expiresIn": 60, "transform": {"format": "origin"}}):
        url = http.post(f"object/sign/{bucket}/dir/s.jpg", json=body).json()["signedURL"]
        assert url.startswith(f"/object/sign/{bucket}/dir/s.jpg?token=")
        assert anon.get(url[1:]).content == photo()


def test_tampered_or_misused_tokens_are_refused(server: Server, http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "t.jpg", photo())
    upload(http, bucket, "other.jpg", photo())
    url = http.post(f"object/sign/{bucket}/t.jpg", json={"expiresIn": 60,
                                                        "transform": {"width": 20}}).json()["signedURL"]
    token = url.split("token=", 1)[1]
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["transformations"] = "width:2000,resize:undefined"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    anon = httpx.Client(base_url=server.url)
    r = anon.get(f"render/image/sign/{bucket}/t.jpg", params={"token": f"{head}.{forged}.{signature}"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidJWT"
    r = anon.get(f"render/image/sign/{bucket}/other.jpg", params={"token": token})
    assert r.status_code == 400 and r.json()["code"] == "InvalidSignature"
    r = anon.get(f"render/image/sign/{bucket}/t.jpg")
    assert r.status_code == 400 and r.json()["code"] == "InvalidJWT"
    upload_token = http.post(f"object/upload/sign/{bucket}/t.jpg", headers={"x-upsert": "true"}).json()["token"]
    r = anon.get(f"render/image/sign/{bucket}/t.jpg", params={"token": upload_token})
    assert r.json()["code"] == "InvalidSignature"
    # a plain download token renders the original size
    plain = http.post(f"object/sign/{bucket}/t.jpg", json={"expiresIn": 60}).json()["signedURL"]
    r = anon.get(f"render/image/sign/{bucket}/t.jpg", params={"token": plain.split("token=", 1)[1]})
    assert r.status_code == 200 and size_of(r.content) == (400, 300)


# --- storage3 -----------------------------------------------------------------------------


def test_storage3_download_and_signed_url_with_transform(client: SyncStorageClient, bucket: str) -> None:
    files = client.from_(bucket)
    files.upload("folder/cat.jpg", photo(), {"content-type": "image/jpeg"})
    small = files.download("folder/cat.jpg", {"transform": {"width": 100, "height": 50, "resize": "contain"}})
    assert size_of(small) == (67, 50) and len(small) < len(photo())
    signed = files.create_signed_url("folder/cat.jpg", 60, {"transform": {"width": 100}})
    assert "/render/image/sign/" in signed["signedURL"]
    got = httpx.get(signed["signedURL"])
    assert got.status_code == 200 and size_of(got.content) == (100, 75)
    public = files.get_public_url("folder/cat.jpg", {"transform": {"width": 100}})
    assert "/render/image/public/" in public and "width=100" in public


# --- refusals -------------------------------------------------------------------------------


def test_non_images_and_bombs_are_400(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "text.txt", b"definitely not an image", content_type="text/plain")
    r = render(http, bucket, "text.txt", width=10)
    assert r.status_code == 400 and r.json() == INVALID_SOURCE
    upload(http, bucket, "truncated.jpg", photo()[:2000])
    r = render(http, bucket, "truncated.jpg", width=10)
    assert r.status_code == 400 and r.json() == INVALID_SOURCE
    upload(http, bucket, "bomb.png", png_declaring(100_000, 100_000), content_type="image/png")
    r = render(http, bucket, "bomb.png", width=10)
    assert r.status_code == 400 and r.json() == {
        "statusCode": "400", "error": "InvalidRequest", "code": "InvalidRequest",
        "message": "The source image resolution is too large to process"}
    upload(http, bucket, "empty.jpg", b"")
    assert render(http, bucket, "empty.jpg").json() == INVALID_SOURCE
    r = render(http, bucket, "missing.jpg", width=10)
    assert r.status_code == 400 and r.json()["code"] == "NoSuchKey"


def test_a_source_over_the_size_limit_is_refused_unread(http: httpx.Client, bucket: str) -> None:
    """25 MB is the hosted service's limit and our default; refused from the row's size."""
    upload(http, bucket, "huge.jpg", b"\xff\xd8\xff" + b"\0" * 25_000_000)
    r = render(http, bucket, "huge.jpg", width=10)
    assert r.status_code == 400 and r.json() == {
        "statusCode": "400", "error": "InvalidRequest", "code": "InvalidRequest",
        "message": "The source image file is too large to process"}


@pytest.fixture(scope="module", params=BACKENDS)
def one_slot(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    """A server whose image engine renders one image at a time."""
    backend = request.param
    with own_server(backend, postgres, backend_upstream(request, backend),
                    env={"IMAGE_TRANSFORMATION_CONCURRENCY": "1"}) as srv:
        yield srv


def renders_run(server: Server) -> float:
    """The engine's render count, from /metrics (summed over the workers)."""
    text = httpx.get(server.url + "metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("s3proxy_image_renders_total"))


def test_renders_of_clients_that_left_are_dropped(one_slot: Server) -> None:
    """Clients that time out while their render waits cost no render: of six requests
    abandoned at once, only the one holding the engine's single slot renders, and the
    others are dropped when their clients leave (counted, not timed)."""
    server = one_slot
    http = httpx.Client(base_url=server.url, headers=server.headers(), timeout=60)
    bucket = f"drop-{uuid.uuid4().hex[:8]}"
    assert http.post("bucket", json={"name": bucket}).status_code == 200
    upload(http, bucket, "big.jpg", photo(4000, 3000))
    url = f"render/image/authenticated/{bucket}/big.jpg?width=2000&format=webp"
    before = renders_run(server)
    assert http.get(url).status_code == 200
    assert renders_run(server) == before + 1

    def abandon() -> None:
        with pytest.raises(httpx.TimeoutException):
            httpx.get(server.url + url, headers=server.headers(), timeout=0.2)

    threads = [threading.Thread(target=abandon) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert http.get(url).status_code == 200  # queued behind whatever still renders
    ran = renders_run(server) - before
    assert 2 <= ran <= 3, f"{ran} renders for 2 answered requests and 6 abandoned ones (one slot)"


def test_rls_hidden_objects_are_not_found(server: Server, owned_bucket: str) -> None:  # noqa: F811
    b = owned_bucket
    alice, bob = user(server, "alice"), user(server, "bob")
    assert alice.post(f"object/{b}/alice/me.jpg", content=photo(),
                      headers={"Content-Type": "image/jpeg"}).status_code == 200
    r = alice.get(f"render/image/authenticated/{b}/alice/me.jpg", params={"width": 30})
    assert r.status_code == 200 and size_of(r.content) == (30, 23)
    r = bob.get(f"render/image/authenticated/{b}/alice/me.jpg", params={"width": 30})
    assert r.status_code == 400 and r.json()["code"] == "NoSuchKey"
    r = bob.post(f"object/sign/{b}/alice/me.jpg", json={"expiresIn": 60, "transform": {"width": 30}})
    assert r.json()["code"] == "NoSuchKey"
    # alice can share it: the signed URL stands in for her right to read it
    url = alice.post(f"object/sign/{b}/alice/me.jpg", json={"expiresIn": 60,
                                                           "transform": {"width": 30}}).json()["signedURL"]
    assert size_of(httpx.get(server.url + url[1:]).content) == (30, 23)


# --- configuration ----------------------------------------------------------------------------


def libvips_loaded(srv: Server) -> int:
    """How many of the server's processes have libvips mapped."""
    assert srv.proc is not None
    parent = psutil.Process(srv.proc.pid)
    return sum(any("libvips" in m.path for m in proc.memory_maps()) for proc in [parent, *parent.children()])


@pytest.mark.parametrize("backend", BACKENDS)
def test_configured_limits_and_the_switch(request: pytest.FixtureRequest, postgres: Postgres, backend: str) -> None:
    limits = {"IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE": "50", "IMAGE_TRANSFORMATION_MAX_SOURCE_SIZE": "20000",
              "IMAGE_TRANSFORMATION_MAX_RESOLUTION": "1", "IMAGE_TRANSFORMATION_CONCURRENCY": "1"}
    with own_server(backend, postgres, backend_upstream(request, backend), env=limits) as srv:
        http = httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=60)
        assert http.post("bucket", json={"name": "lim"}).status_code == 200
        upload(http, "lim", "small.jpg", photo(100, 75))
        assert libvips_loaded(srv) == 0  # not before the first render
        r = render(http, "lim", "small.jpg", width=500)
        assert libvips_loaded(srv) == 1  # in the one worker that rendered
        assert size_of(r.content) == (50, 38) and r.headers["x-transformations"] == "width:50,resizing_type:fill"
        upload(http, "lim", "big.jpg", photo())  # about 28 KB
        assert render(http, "lim", "big.jpg", width=10).json()["message"] == (
            "The source image file is too large to process")
        upload(http, "lim", "wide.png", bytes(pyvips.Image.black(1200, 1000).pngsave_buffer()), "image/png")
        assert render(http, "lim", "wide.png", width=10).json()["message"] == (
            "The source image resolution is too large to process")
        assert "Traceback" not in srv.log_tail(500)
    with own_server(backend, postgres, backend_upstream(request, backend),
                    env={"IMAGE_TRANSFORMATION_ENABLED": "false"}) as srv:
        http = httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=60)
        assert http.post("bucket", json={"name": "off"}).status_code == 200
        upload(http, "off", "p.jpg", photo(100, 75))
        r = render(http, "off", "p.jpg", width=10)
        assert r.status_code == 404 and r.json()["statusCode"] == "404"
        url = http.post("object/sign/off/p.jpg", json={"expiresIn": 60, "transform": {"width": 10}}).json()["signedURL"]
        assert url.startswith("/object/sign/off/p.jpg?token=") and "transformations" not in _claims(srv, url)
        assert httpx.get(srv.url + url[1:]).content == photo(100, 75)
        assert libvips_loaded(srv) == 0
