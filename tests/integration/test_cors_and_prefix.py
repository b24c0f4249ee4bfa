"""Browsers and supabase-js without a gateway (issue 14 §3): the REST API also under
/storage/v1 and S3 under /storage/v1/s3 (SigV4 over the path the client signed), CORS
preflights and response headers on both protocols, and S3 bucket CORS configurations
that decide their bucket's preflights."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from storage3 import SyncStorageClient

from tests.integration.s3_support import error_code, s3_client
from tests.rig import Server

ORIGIN = "http://app.example"


def preflight(url: str, method: str, headers: str = "authorization, x-upsert") -> httpx.Response:
    return httpx.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": method,
                                       "Access-Control-Request-Headers": headers})


def test_rest_under_the_supabase_prefix(server: Server, bucket: str) -> None:
    base = server.url + "storage/v1/"
    auth = server.headers()
    assert httpx.post(base + f"object/{bucket}/p.txt", content=b"prefixed", headers=auth).status_code == 200
    assert httpx.get(base + f"object/{bucket}/p.txt", headers=auth).content == b"prefixed"
    assert httpx.get(server.url + f"object/{bucket}/p.txt", headers=auth).content == b"prefixed"
    assert [b["name"] for b in httpx.get(base + "bucket", headers=auth).json()].count(bucket) == 1
    r = httpx.get(base + "no/such/route", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "InvalidRequest"
    # storage3 pointed at the prefixed URL, as createClient(url).storage does
    client = SyncStorageClient(base, auth)
    assert client.from_(bucket).download("p.txt") == b"prefixed"


def test_s3_under_the_supabase_prefix(server: Server, bucket: str) -> None:
    s3 = s3_client(server, endpoint=server.url + "storage/v1/s3")
    s3.put_object(Bucket=bucket, Key="s3.txt", Body=b"signed through the prefix")
    assert s3.get_object(Bucket=bucket, Key="s3.txt")["Body"].read() == b"signed through the prefix"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "s3.txt" in keys
    # the signature covers the path as sent: a request signed for /s3 is refused under /storage/v1/s3
    plain = s3_client(server, endpoint=server.url + "s3")
    url = plain.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "s3.txt"})
    assert httpx.get(url).status_code == 200
    moved = url.replace("/s3/", "/storage/v1/s3/", 1)
    r = httpx.get(moved)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content


def test_rest_preflight_and_response_headers(server: Server, bucket: str) -> None:
    r = preflight(server.url + f"object/{bucket}/x.txt", "POST")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "authorization, x-upsert"
    r = httpx.post(server.url + f"object/{bucket}/x.txt", content=b"x",
                   headers={**server.headers(), "Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    r = httpx.get(server.url + f"object/{bucket}/missing", headers={**server.headers(), "Origin": ORIGIN})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == "*"  # errors are readable too
    assert "ETag" in httpx.get(server.url + f"object/{bucket}/x.txt", headers={
        **server.headers(), "Origin": ORIGIN}).headers["access-control-expose-headers"]


def test_s3_preflight_follows_the_bucket_configuration(server: Server, bucket: str) -> None:
    s3 = s3_client(server)
    url = f"{server.s3_url}/{bucket}/k.txt"
    # no configuration: the server's default (any origin) answers
    assert preflight(url, "PUT").status_code == 200
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_code(caught.value) == ("NoSuchCORSConfiguration", 404)
    rules: dict[str, Any] = {"CORSRules": [{
        "ID": "app", "AllowedOrigins": [ORIGIN, "https://*.example.org"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["authorization", "content-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
    assert got["AllowedOrigins"] == [ORIGIN, "https://*.example.org"] and got["MaxAgeSeconds"] == 600
    r = preflight(url, "PUT", "authorization, content-type")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN and r.headers["access-control-max-age"] == "600"
    assert preflight(url, "DELETE").status_code == 403  # method not in the rule
    assert preflight(url, "PUT", "x-forbidden").status_code == 403  # header not in the rule
    r = httpx.options(url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and b"AccessForbidden" in r.content
    r = httpx.options(url, headers={"Origin": "https://cdn.example.org", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200  # the wildcard origin
    # actual requests from an allowed origin carry the rule's headers
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"k")
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k.txt"})
    r = httpx.get(presigned, headers={"Origin": ORIGIN})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-expose-headers"] == "ETag"
    assert "access-control-allow-origin" not in httpx.get(presigned, headers={"Origin": "https://evil.example"}).headers
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)
    assert preflight(url, "DELETE").status_code == 200  # back to the server's default


def test_bucket_cors_needs_the_right_to_change_the_bucket(server: Server, bucket: str) -> None:
    user = s3_client(server, token=server.token("authenticated", sub="someone"))
    with pytest.raises(ClientError) as caught:
        user.put_bucket_cors(Bucket=bucket, CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    assert error_code(caught.value)[0] in ("AccessDenied", "NoSuchBucket")
    with pytest.raises(ClientError) as caught:
        s3_client(server).put_bucket_cors(Bucket=bucket, CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert error_code(caught.value) == ("InvalidRequest", 400)
