"""What one protocol writes, the other reads, with the same metadata: content type,
cache control, user metadata, size and ETag."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx

from tests.integration import s3_support
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture


def test_rest_upload_read_by_s3(server: Server, http: httpx.Client, s3_bucket: str, admin: Any) -> None:
    body = b"written by REST"
    meta = base64.b64encode(json.dumps({"color": "blue"}).encode()).decode()
    r = http.post(f"object/{s3_bucket}/from-rest/x.txt", content=body,
                  headers={"Content-Type": "text/plain", "Cache-Control": "max-age=30", "x-metadata": meta})
    assert r.status_code == 200, r.text
    got = admin.get_object(Bucket=s3_bucket, Key="from-rest/x.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=30"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ContentLength"] == len(body)
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    info = http.get(f"object/info/{s3_bucket}/from-rest/x.txt").json()
    assert got["ETag"] == info.get("etag", got["ETag"])


def test_s3_upload_read_by_rest(server: Server, http: httpx.Client, s3_bucket: str, admin: Any) -> None:
    body = b"written by S3"
    admin.put_object(Bucket=s3_bucket, Key="from-s3/y.txt", Body=body, ContentType="text/markdown",
                     CacheControl="max-age=99", Metadata={"shade": "=?UTF-8?B?w7w=?="})
    r = http.get(f"object/authenticated/{s3_bucket}/from-s3/y.txt")
    assert r.status_code == 200, r.text
    assert r.content == body
    assert r.headers["content-type"].startswith("text/markdown")
    assert r.headers["cache-control"] == "max-age=99"
    assert r.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    info = http.get(f"object/info/{s3_bucket}/from-s3/y.txt").json()
    assert info["size"] == len(body)
    assert info["metadata"] == {"shade": "ü"}  # stored decoded: real UTF-8 for the REST side
    assert info["content_type"].startswith("text/markdown")
