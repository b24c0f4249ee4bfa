"""Signed download and upload URLs over HTTP (reference §2.3 "Signed URLs", §6)."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import jwt as pyjwt

from tests.rig import Server


def test_sign_and_download(server: Server, http: httpx.Client, bucket: str) -> None:
    http.post(f"object/{bucket}/dir/file name.txt", content=b"signed!", headers={"content-type": "text/plain"})
    r = http.post(f"object/sign/{bucket}/dir/file%20name.txt", json={"expiresIn": 60})
    assert r.status_code == 200, r.text
    url = r.json()["signedURL"]
    assert url.startswith(f"/object/sign/{bucket}/dir/file name.txt?token=")
    token = url.split("token=", 1)[1]
    claims = pyjwt.decode(token, server.jwt_secret, algorithms=["HS256"])
    assert claims["url"] == f"{bucket}/dir/file name.txt" and claims["scope"] == "download"
    assert claims["exp"] - claims["iat"] == 60
    anon = httpx.Client(base_url=server.url)
    got = anon.get(f"object/sign/{bucket}/dir/file%20name.txt", params={"token": token})
    assert got.status_code == 200 and got.content == b"signed!"
    assert "cache-control" not in got.headers and "expires" in got.headers
    assert anon.head(f"object/sign/{bucket}/dir/file%20name.txt", params={"token": token}).headers[
        "content-length"] == "7"
    ranged = anon.get(f"object/sign/{bucket}/dir/file%20name.txt", params={"token": token},
                      headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206 and ranged.content == b"si"
    dl = anon.get(f"object/sign/{bucket}/dir/file%20name.txt", params={"token": token, "download": "x.txt"})
    assert dl.headers["content-disposition"].startswith("attachment; filename=x.txt")


def test_signed_download_errors(server: Server, http: httpx.Client, bucket: str) -> None:
    http.post(f"object/{bucket}/a", content=b"a")
    http.post(f"object/{bucket}/b", content=b"b")
    token = http.post(f"object/sign/{bucket}/a", json={"expiresIn": "60"}).json()["signedURL"].split("token=")[1]
    anon = httpx.Client(base_url=server.url)
    r = anon.get(f"object/sign/{bucket}/b", params={"token": token})
    assert r.status_code == 400 and r.json()["code"] == "InvalidSignature"
    r = anon.get(f"object/sign/{bucket}/a", params={"token": "garbage"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidJWT"
    r = anon.get(f"object/sign/{bucket}/a")
    assert r.json()["code"] == "InvalidJWT"
    expired = pyjwt.encode({"url": f"{bucket}/a", "scope": "download", "iat": int(time.time()) - 100,
                            "exp": int(time.time()) - 10}, server.jwt_secret, algorithm="HS256")
    r = anon.get(f"object/sign/{bucket}/a", params={"token": expired})
    assert r.json()["code"] == "InvalidJWT" and "exp" in r.json()["message"]
    upload_token = http.post(f"object/upload/sign/{bucket}/a", headers={"x-upsert": "true"}).json()["token"]
    r = anon.get(f"object/sign/{bucket}/a", params={"token": upload_token})
    assert r.json() == {"statusCode": "400", "error": "InvalidSignature", "code": "InvalidSignature",
                        "message": "Token is not scoped for download"}
    for bad in (0, -1, "abc", None, 1.5):
        r = http.post(f"object/sign/{bucket}/a", json={"expiresIn": bad})
        assert r.json()["code"] == "InvalidParameter", bad
    r = http.post(f"object/sign/{bucket}/missing", json={"expiresIn": 60})
    assert r.json()["code"] == "NoSuchKey"


def test_sign_many(server: Server, http: httpx.Client, bucket: str) -> None:
    http.post(f"object/{bucket}/one", content=b"1")
    http.post(f"object/{bucket}/two", content=b"2")
    r = http.post(f"object/sign/{bucket}", json={"expiresIn": 30, "paths": ["two", "nope", "one"]})
    assert r.status_code == 200
    items = r.json()
    assert [i["path"] for i in items] == ["two", "nope", "one"]
    assert items[1] == {"error": "Either the object does not exist or you do not have access to it", "path": "nope",
                        "signedURL": None}
    anon = httpx.Client(base_url=server.url)
    assert anon.get(items[0]["signedURL"][1:]).content == b"2"
    assert anon.get(items[2]["signedURL"][1:]).content == b"1"
    assert http.post(f"object/sign/{bucket}", json={"expiresIn": 30, "paths": []}).json()["code"] == "InvalidRequest"


def test_signed_upload(server: Server, http: httpx.Client, bucket: str) -> None:
    sub = "11111111-2222-4333-8444-555555555555"
    r = http.post(f"object/upload/sign/{bucket}/up/load.bin",
                  headers={"Authorization": f"Bearer {server.token('service_role', sub=sub)}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"] == f"/object/upload/sign/{bucket}/up/load.bin?token={body['token']}"
    claims = pyjwt.decode(body["token"], server.jwt_secret, algorithms=["HS256"])
    assert claims["scope"] == "upload" and claims["upsert"] is False and claims["owner"] == sub
    anon = httpx.Client(base_url=server.url)
    r = anon.put(body["url"][1:], content=b"via token", headers={"content-type": "application/x-up"})
    assert r.status_code == 200, r.text
    assert r.json() == {"Key": f"{bucket}/up/load.bin"}
    got = http.get(f"object/{bucket}/up/load.bin")
    assert got.content == b"via token" and got.headers["content-type"] == "application/x-up"
    row = server.sql("SELECT owner::text AS owner, owner_id FROM storage.objects WHERE bucket_id = $1", bucket)[0]
    assert row == {"owner": sub, "owner_id": sub}
    # without upsert a second upload conflicts; with upsert it replaces
    r = anon.put(body["url"][1:], content=b"again")
    assert r.json()["statusCode"] == "409"
    token = http.post(f"object/upload/sign/{bucket}/up/load.bin", headers={"x-upsert": "true"}).json()["token"]
    r = anon.put(f"object/upload/sign/{bucket}/up/load.bin", params={"token": token},
                 files={"file": ("load.bin", b"form upsert", "text/plain")})
    assert r.status_code == 200, r.text
    assert http.get(f"object/{bucket}/up/load.bin").content == b"form upsert"
    # the token is for one key only, and only for uploads
    r = anon.put(f"object/upload/sign/{bucket}/other", params={"token": token}, content=b"x")
    assert r.json()["code"] == "InvalidSignature"
    download = http.post(f"object/sign/{bucket}/up/load.bin", json={"expiresIn": 9}).json()["signedURL"]
    r = anon.put(f"object/upload/sign/{bucket}/up/load.bin", params={"token": download.split("token=")[1]},
                 content=b"x")
    assert r.json()["message"] == "Token is not scoped for upload"
    r = anon.put(f"object/upload/sign/{bucket}/up/load.bin", params={"token": "x.y.z"}, content=b"x")
    assert r.json()["code"] == "InvalidJWT"
    assert http.post(f"object/upload/sign/nobucket-{bucket}/k").json()["code"] == "NoSuchBucket"


def test_unicode_key_signed_round_trip(server: Server, http: httpx.Client, bucket: str) -> None:
    key = "ordner/größe 100%.txt"
    http.post(f"object/{bucket}/{quote(key)}", content=b"u")
    url = http.post(f"object/sign/{bucket}/{quote(key)}", json={"expiresIn": 60}).json()["signedURL"]
    path, token = url.split("?token=")
    anon = httpx.Client(base_url=server.url)
    assert anon.get(quote(path[1:]), params={"token": token}).content == b"u"
