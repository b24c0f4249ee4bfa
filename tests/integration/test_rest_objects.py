"""Object routes over raw HTTP (reference §2.3): upload, download, HEAD, info, delete,
move, copy; exact statuses, shapes and headers."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote

import httpx
import pytest

from tests.rig import Server


def upload(http: httpx.Client, bucket: str, key: str, data: bytes, **headers: str) -> httpx.Response:
    return http.post(f"object/{bucket}/{quote(key)}", content=data, headers=headers)


def test_upload_returns_id_and_key_and_stores_metadata(server: Server, http: httpx.Client, bucket: str) -> None:
    meta = base64.b64encode(json.dumps({"a": 1}).encode()).decode()
    r = upload(http, bucket, "dir/hello.txt", b"hello world", **{"content-type": "text/plain",
               "cache-control": "max-age=60", "x-metadata": meta})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Key"] == f"{bucket}/dir/hello.txt"
    row = server.sql("SELECT id::text, metadata, user_metadata FROM storage.objects WHERE bucket_id = $1", bucket)[0]
    assert body["Id"] == row["id"]
    md = json.loads(row["metadata"]) if isinstance(row["metadata"], str) else row["metadata"]
    assert md["eTag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    assert md["size"] == 11 and md["contentLength"] == 11
    assert md["mimetype"] == "text/plain" and md["cacheControl"] == "max-age=60"
    user = row["user_metadata"]
    assert (json.loads(user) if isinstance(user, str) else user) == {"a": 1}


def test_post_conflict_then_upsert_and_put(http: httpx.Client, bucket: str) -> None:
    assert upload(http, bucket, "k", b"one").status_code == 200
    r = upload(http, bucket, "k", b"two")
    assert r.status_code == 400
    assert r.json() == {"statusCode": "409", "error": "Duplicate", "message": "The resource already exists",
                        "code": "KeyAlreadyExists"}
    assert upload(http, bucket, "k", b"two", **{"x-upsert": "true"}).status_code == 200
    assert http.get(f"object/{bucket}/k").content == b"two"
    assert http.put(f"object/{bucket}/k", content=b"three").status_code == 200
    assert http.get(f"object/{bucket}/k").content == b"three"
    assert http.put(f"object/{bucket}/new", content=b"x").status_code == 200


def test_download_headers(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "page.html", b"<b>hi</b>", **{"content-type": "text/html", "cache-control": "max-age=5"})
    r = http.get(f"object/{bucket}/page.html")
    assert r.status_code == 200
    assert r.content == b"<b>hi</b>"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == f'"{hashlib.md5(b"<b>hi</b>").hexdigest()}"'
    assert r.headers["cache-control"] == "max-age=5"
    assert r.headers["x-robots-tag"] == "none"
    assert r.headers["content-length"] == "9"
    assert "last-modified" in r.headers
    assert "content-disposition" not in r.headers
    r = http.get(f"object/{bucket}/page.html", params={"download": ""})
    assert r.headers["content-disposition"] == "attachment;"
    r = http.get(f"object/{bucket}/page.html", params={"download": "my file ä.html"})
    enc = quote("my file ä.html", safe="-_.!~*'()")
    assert r.headers["content-disposition"] == f"attachment; filename={enc}; filename*=UTF-8''{enc}"


def test_range_requests(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "r.bin", bytes(range(100)))
    r = http.get(f"object/{bucket}/r.bin", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == bytes(range(10, 20))
    assert r.headers["content-range"] == "bytes 10-19/100"
    assert r.headers["content-length"] == "10"
    r = http.get(f"object/{bucket}/r.bin", headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == bytes(range(95, 100))
    r = http.get(f"object/{bucket}/r.bin", headers={"Range": "bytes=90-"})
    assert r.content == bytes(range(90, 100))
    r = http.get(f"object/{bucket}/r.bin", headers={"Range": "bytes=200-300"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */100"
    assert r.json()["code"] == "InvalidRange"


def test_conditional_get(http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "c.txt", b"cond")
    first = http.get(f"object/{bucket}/c.txt")
    etag = first.headers["etag"]
    r = http.get(f"object/{bucket}/c.txt", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    r = http.get(f"object/{bucket}/c.txt", headers={"If-None-Match": '"other"'})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache, stale-while-revalidate=30"
    r = http.get(f"object/{bucket}/c.txt", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert r.status_code == 304
    r = http.get(f"object/{bucket}/c.txt", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status_code == 200


def test_head_and_info(http: httpx.Client, bucket: str) -> None:
    meta = base64.b64encode(json.dumps({"k": "v"}).encode()).decode()
    upload(http, bucket, "i.json", b"{}", **{"content-type": "application/json", "x-metadata": meta})
    for path in (f"object/{bucket}/i.json", f"object/authenticated/{bucket}/i.json"):
        r = http.head(path)
        assert r.status_code == 200
        assert r.headers["content-length"] == "2"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["etag"] == f'"{hashlib.md5(b"{}").hexdigest()}"'
    r = http.head(f"object/{bucket}/missing")
    assert r.status_code == 400 and r.content == b""
    info = http.get(f"object/info/{bucket}/i.json")
    assert info.status_code == 200
    body = info.json()
    assert set(body) == {"id", "name", "version", "bucket_id", "size", "content_type", "cache_control", "etag",
                         "metadata", "last_modified", "created_at"}
    assert body["name"] == "i.json" and body["bucket_id"] == bucket and body["size"] == 2
    assert body["content_type"] == "application/json" and body["cache_control"] == "no-cache"
    assert body["metadata"] == {"k": "v"}
    assert body["last_modified"].endswith("Z")
    assert info.headers["etag"] == body["etag"]
    assert http.get(f"object/info/authenticated/{bucket}/i.json").json()["id"] == body["id"]
    head = http.head(f"object/info/{bucket}/i.json")
    assert head.status_code == 200 and head.headers["etag"] == body["etag"] and head.content == b""
    r = http.get(f"object/info/{bucket}/nope")
    assert r.status_code == 400
    assert r.json() == {"statusCode": "404", "error": "not_found", "message": "Object not found", "code": "NoSuchKey"}


def test_public_bucket_routes(server: Server, http: httpx.Client, unique: str) -> None:
    name = f"pub-{unique}"
    assert http.post("bucket", json={"name": name, "public": True}).status_code == 200
    try:
        upload(http, name, "p.txt", b"public!")
        anon = httpx.Client(base_url=server.url)
        assert anon.get(f"object/public/{name}/p.txt").content == b"public!"
        assert anon.get(f"object/{name}/p.txt").content == b"public!"
        assert anon.head(f"object/public/{name}/p.txt").headers["content-length"] == "7"
        assert anon.get(f"object/info/public/{name}/p.txt").json()["size"] == 7
        # a private bucket is invisible without a token
        http.put(f"bucket/{name}", json={"public": False})
        r = anon.get(f"object/public/{name}/p.txt")
        assert r.status_code == 400 and r.json()["code"] == "NoSuchBucket"
        assert anon.get(f"object/{name}/p.txt").json()["code"] == "NoSuchBucket"
        assert anon.get(f"object/authenticated/{name}/p.txt").json()["code"] == "InvalidRequest"
    finally:
        http.post(f"bucket/{name}/empty", json={})
        http.delete(f"bucket/{name}")


@pytest.mark.parametrize("key", ["spaces in name.txt", "plus+sign.txt", "ünïcödé/日本語.txt", "pct%20literal.txt",
                                 "a//b/c?#[x].txt", "emoji 🎉.bin"])
def test_unusual_keys_round_trip(http: httpx.Client, bucket: str, key: str) -> None:
    r = http.post(f"object/{bucket}/{quote(key, safe='/')}", content=key.encode())
    assert r.status_code == 200, r.text
    assert r.json()["Key"] == f"{bucket}/{key}"
    assert http.get(f"object/{bucket}/{quote(key, safe='/')}").content == key.encode()
    listed = http.post(f"object/list-v2/{bucket}", json={"prefix": ""}).json()
    assert [o["name"] for o in listed["objects"]] == [key]
    assert http.delete(f"object/{bucket}/{quote(key, safe='/')}").json() == {"message": "Successfully deleted"}


def test_bucket_limits_and_mime_types(http: httpx.Client, unique: str) -> None:
    name = f"lim-{unique}"
    r = http.post("bucket", json={"name": name, "file_size_limit": 10, "allowed_mime_types": ["image/*", "text/plain"]})
    assert r.status_code == 200
    try:
        assert upload(http, name, "a.png", b"1234", **{"content-type": "image/png"}).status_code == 200
        assert upload(http, name, "a.txt", b"1234", **{"content-type": "text/plain"}).status_code == 200
        r = upload(http, name, "a.pdf", b"1234", **{"content-type": "application/pdf"})
        assert r.json()["statusCode"] == "415" and r.json()["code"] == "InvalidMimeType"
        r = upload(http, name, "big.png", b"x" * 11, **{"content-type": "image/png"})
        assert r.status_code == 400
        assert r.json()["statusCode"] == "413" and r.json()["code"] == "EntityTooLarge"

        def chunked() -> object:
            yield b"x" * 6
            yield b"x" * 6

        r = http.post(f"object/{name}/chunked.png", content=chunked(), headers={"content-type": "image/png"})
        assert r.json()["code"] == "EntityTooLarge"
        names = {o["name"] for o in http.post(f"object/list-v2/{name}", json={}).json()["objects"]}
        assert names == {"a.png", "a.txt"}
    finally:
        http.post(f"bucket/{name}/empty", json={})
        http.delete(f"bucket/{name}")


def test_missing_bucket_and_bad_key(http: httpx.Client, bucket: str) -> None:
    r = upload(http, f"nope-{bucket}", "k", b"1")
    assert r.json()["code"] == "NoSuchBucket"
    r = http.post(f"object/{bucket}/bad%01key", content=b"1")
    assert r.json()["code"] == "InvalidKey"
    r = http.post(f"object/{bucket}/k", content=b"1", headers={"Authorization": "Bearer nope"})
    assert r.json()["statusCode"] == "403" and r.json()["code"] == "AccessDenied"


def test_multipart_form_upload(server: Server, http: httpx.Client, bucket: str) -> None:
    data = {"cacheControl": "120", "metadata": json.dumps({"m": True})}
    payload = b"form-bytes\r\n--not-a-boundary\r\n" * 5000
    r = http.post(f"object/{bucket}/f.bin", data=data, files={"file": ("f.bin", payload, "application/x-test")})
    assert r.status_code == 200, r.text
    got = http.get(f"object/{bucket}/f.bin")
    assert got.content == payload
    assert got.headers["content-type"] == "application/x-test"
    assert got.headers["cache-control"] == "max-age=120"
    assert got.headers["etag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert http.get(f"object/info/{bucket}/f.bin").json()["metadata"] == {"m": True}
    # storage-js: the file part has the empty field name; contentType field overrides the part type
    r = http.post(f"object/{bucket}/g.txt", data={"contentType": "text/csv"}, files={"": ("blob", b"a,b", "text/plain")})
    assert r.status_code == 200, r.text
    assert http.get(f"object/{bucket}/g.txt").headers["content-type"] == "text/csv"
    r = http.post(f"object/{bucket}/h.txt", data={"cacheControl": "1"}, files={"x": (None, b"no file")})
    assert r.json()["code"] == "InvalidRequest" and r.json()["message"] == "No content provided"


def test_delete_one_and_many(http: httpx.Client, bucket: str) -> None:
    for key in ("a", "b", "c/d"):
        upload(http, bucket, key, b"1")
    assert http.delete(f"object/{bucket}/a").json() == {"message": "Successfully deleted"}
    r = http.delete(f"object/{bucket}/a")
    assert r.status_code == 400 and r.json()["code"] == "NoSuchKey"
    r = http.request("DELETE", f"object/{bucket}", json={"prefixes": ["b", "c/d", "zzz"]})
    assert r.status_code == 200
    rows = r.json()
    assert sorted(x["name"] for x in rows) == ["b", "c/d"]
    assert set(rows[0]) == {"bucket_id", "name", "owner", "owner_id", "version", "id", "updated_at", "created_at",
                            "last_accessed_at", "metadata", "user_metadata"}
    assert rows[0]["owner"] == "" and rows[0]["owner_id"] == ""
    assert http.post(f"object/list-v2/{bucket}", json={}).json()["objects"] == []


def test_bulk_delete_takes_a_single_name_as_storage_py_sends_it(http: httpx.Client, bucket: str) -> None:
    """storage-py's remove() can send `prefixes` as one string; the reference's schema
    coerces it into an array of one (issue 16 §9). Other types stay refused."""
    upload(http, bucket, "solo.txt", b"1")
    r = http.request("DELETE", f"object/{bucket}", json={"prefixes": "solo.txt"})
    assert r.status_code == 200 and [x["name"] for x in r.json()] == ["solo.txt"]
    for bad in (5, {"a": 1}, [1, 2], None, []):
        r = http.request("DELETE", f"object/{bucket}", json={"prefixes": bad})
        assert r.status_code == 400 and r.json()["code"] == "InvalidRequest", (bad, r.text)


def test_move_and_copy(http: httpx.Client, bucket: str, unique: str) -> None:
    other = f"other-{unique}"
    http.post("bucket", json={"name": other})
    try:
        upload(http, bucket, "src.txt", b"payload", **{"content-type": "text/x-src"})
        old_id = http.get(f"object/info/{bucket}/src.txt").json()["id"]
        r = http.post("object/move", json={"bucketId": bucket, "sourceKey": "src.txt", "destinationKey": "moved.txt"})
        assert r.json() == {"message": "Successfully moved"}
        assert http.get(f"object/{bucket}/src.txt").json()["code"] == "NoSuchKey"
        assert http.get(f"object/info/{bucket}/moved.txt").json()["id"] == old_id
        r = http.post("object/move", json={"bucketId": bucket, "sourceKey": "moved.txt", "destinationKey": "x/y.txt",
                                           "destinationBucket": other})
        assert r.status_code == 200
        assert http.get(f"object/{other}/x/y.txt").content == b"payload"
        r = http.post("object/copy", json={"bucketId": other, "sourceKey": "x/y.txt", "destinationKey": "copy.txt",
                                           "destinationBucket": bucket})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["Key"] == f"{bucket}/copy.txt" and body["name"] == "copy.txt" and body["Id"] == body["id"]
        assert body["metadata"]["mimetype"] == "text/x-src"
        assert http.get(f"object/{bucket}/copy.txt").content == b"payload"
        r = http.post("object/copy", json={"bucketId": bucket, "sourceKey": "copy.txt", "destinationKey": "copy.txt"})
        assert r.json()["statusCode"] == "409"
        r = http.post("object/copy", json={"bucketId": bucket, "sourceKey": "copy.txt", "destinationKey": "c2.txt",
                                           "copyMetadata": False, "metadata": {"mimetype": "text/y", "cacheControl": "max-age=9"}},
                      headers={"x-metadata": base64.b64encode(b'{"n": 2}').decode()})
        assert r.json()["metadata"]["mimetype"] == "text/y"
        assert r.json()["user_metadata"] == {"n": 2}
        assert http.get(f"object/{bucket}/c2.txt").headers["cache-control"] == "max-age=9"
        r = http.post("object/move", json={"bucketId": bucket, "sourceKey": "copy.txt", "destinationKey": "c2.txt"})
        assert r.json()["statusCode"] == "409"
        r = http.post("object/move", json={"bucketId": bucket, "sourceKey": "nope", "destinationKey": "n2"})
        assert r.json()["code"] == "NoSuchKey"
        r = http.post("object/move", json={"bucketId": bucket})
        assert r.json()["message"] == "body must have required property 'sourceKey'"
    finally:
        http.post(f"bucket/{other}/empty", json={})
        http.delete(f"bucket/{other}")


def test_missing_bytes_is_not_found(server: Server, http: httpx.Client, bucket: str) -> None:
    upload(http, bucket, "ghost", b"boo")
    version = server.sql("SELECT version FROM storage.objects WHERE bucket_id = $1", bucket)[0]["version"]
    server.sql("UPDATE storage.objects SET version = 'gone' WHERE bucket_id = $1 AND name = 'ghost'", bucket)
    r = http.get(f"object/{bucket}/ghost")
    assert r.status_code == 400
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == {"statusCode": "404", "error": "Not found", "message": "The resource was not found",
                        "code": "NoSuchKey"}
    server.sql("UPDATE storage.objects SET version = $2 WHERE bucket_id = $1", bucket, version)


def test_x_robots_tag(http: httpx.Client, bucket: str) -> None:
    assert upload(http, bucket, "r1", b"1", **{"x-robots-tag": "googlebot: noindex, nofollow"}).status_code == 200
    assert http.get(f"object/{bucket}/r1").headers["x-robots-tag"] == "googlebot: noindex, nofollow"
    assert http.head(f"object/{bucket}/r1").headers["x-robots-tag"] == "googlebot: noindex, nofollow"
    r = upload(http, bucket, "r2", b"1", **{"x-robots-tag": "index-me-please"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_x_robots_tag"
