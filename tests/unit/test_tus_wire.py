"""The TUS wire: upload ids, Upload-Metadata, creation headers and Location bases."""

from __future__ import annotations

import base64
import uuid

import pytest

from s3proxy import errors
from s3proxy.config import Settings
from s3proxy.rest import tus_wire
from s3proxy.storage.tus import UploadRef


def test_ids_round_trip_and_refuse_anything_else() -> None:
    version = str(uuid.uuid4())
    for bucket, name in (("b", "a.txt"), ("my bucket", "deep/ünï/cødé ✓.bin"), ("b", "x/y/" + version)):
        ident = tus_wire.encode_id(bucket, name, version)
        assert "=" not in ident and "/" not in ident and "+" not in ident
        assert tus_wire.decode_id(ident) == UploadRef(bucket, name, version)
    bad = ["", "a" * 9000, "a+b", "abc=", tus_wire.encode_id("b", "n", "not-a-uuid"),
           tus_wire.encode_id("b", "", version), tus_wire.encode_id("", "n", version),
           tus_wire.encode_id("b", "../x", version), base64.urlsafe_b64encode(b"\xff\xfe/x/y").decode().rstrip("="),
           tus_wire.encode_id("b", "n", version.upper())]
    for text in bad:
        with pytest.raises(errors.NoSuchUpload):
            tus_wire.decode_id(text)


def test_upload_metadata() -> None:
    enc = base64.b64encode
    header = f"bucketName {enc(b'b').decode()},objectName {enc('ü/x'.encode()).decode()},flag"
    assert tus_wire.parse_metadata(header) == {"bucketName": "b", "objectName": "ü/x", "flag": ""}
    assert tus_wire.parse_metadata(None) == {}
    for bad in ("k !!!", "k YQ==,k YQ==", " YQ==", "k YQ== YQ==", "k\x01 YQ=="):
        with pytest.raises(errors.InvalidRequest):
            tus_wire.parse_metadata(bad)


def test_creation_headers() -> None:
    m = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {
        "bucketName": "b", "objectName": "o.png", "contentType": "image/png", "cacheControl": "3600",
        "metadata": '{"a": 1}'}.items())
    new = tus_wire.new_upload({"Upload-Length": "10", "Upload-Metadata": m}, upsert=True)
    assert (new.bucket_id, new.name, new.length, new.upsert) == ("b", "o.png", 10, True)
    assert (new.describing.mimetype, new.describing.cache_control) == ("image/png", "max-age=3600")
    assert new.user_metadata == {"a": 1} and new.tus_metadata == m
    deferred = tus_wire.new_upload({"Upload-Defer-Length": "1", "Upload-Metadata": m}, upsert=False)
    assert deferred.length is None
    odd = m.replace(base64.b64encode(b"3600").decode(), base64.b64encode(b"1h").decode())
    assert tus_wire.new_upload({"Upload-Length": "1", "Upload-Metadata": odd}, upsert=False) \
        .describing.cache_control == "no-cache"
    for headers in ({"Upload-Metadata": m}, {"Upload-Length": "-1", "Upload-Metadata": m},
                    {"Upload-Length": "1", "Upload-Defer-Length": "1", "Upload-Metadata": m},
                    {"Upload-Defer-Length": "2", "Upload-Metadata": m}, {"Upload-Length": "1"}):
        with pytest.raises(errors.InvalidRequest):
            tus_wire.new_upload(headers, upsert=False)


def test_location_base() -> None:
    plain = Settings()
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "files.example", "X-Forwarded-Prefix": "/storage/v1/"}
    path = "/upload/resumable"
    assert tus_wire.base_url(plain, "http", "h:5000", path, fwd) == "http://h:5000"  # not trusted by default
    assert tus_wire.base_url(plain, "http", "h:5000", "/storage/v1/upload/resumable/x", {}) == \
        "http://h:5000/storage/v1"  # mounted under a prefix of our own
    trusting = Settings(request_allow_x_forwarded_path=True)
    assert tus_wire.base_url(trusting, "http", "h:5000", path, fwd) == "https://files.example/storage/v1"
    assert tus_wire.base_url(trusting, "http", "h:5000", path, {}) == "http://h:5000"  # never forces https
    hostile = {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "a b\\c", "X-Forwarded-Prefix": "/p q"}
    assert tus_wire.base_url(trusting, "http", "h:5000", path, hostile) == "http://h:5000/p%20q"
    public = Settings(storage_public_url="http://public.example:8080/storage/v1")
    assert tus_wire.base_url(public, "https", "h", path, fwd) == "http://public.example:8080/storage/v1"
