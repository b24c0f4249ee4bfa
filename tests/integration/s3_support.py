"""Shared helpers for the S3 protocol tests: boto3 clients against a test server,
a fresh bucket fixture, and a way to reach virtual-host style addressing without DNS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.rig import Server

# botocore's default checksum behaviour (CRC32 on every upload, aws-chunked with a
# trailer for streaming bodies) and the conservative one
CHECKSUM_MODES = {
    "default": {},
    "when_required": {"request_checksum_calculation": "when_required",
                      "response_checksum_validation": "when_required"},
}


def s3_client(server: Server, *, endpoint: str | None = None, mode: str = "default", style: str = "path",
              key_id: str | None = None, secret: str | None = None, token: str | None = None,
              pin_host: bool = False) -> Any:
    """A boto3 S3 client. With `pin_host`, every request is sent to `endpoint` but carries
    (and signs) the Host botocore built (`bucket.localhost:port`), which is how virtual-host style is tested without DNS."""
    config = Config(s3={"addressing_style": style}, retries={"max_attempts": 1},
                    signature_version="s3v4", **CHECKSUM_MODES[mode])
    client = boto3.client(
        "s3", endpoint_url=endpoint or server.s3_url, region_name=server.region,
        aws_access_key_id=key_id or server.s3_key_id, aws_secret_access_key=secret or server.s3_secret,
        aws_session_token=token, config=config,
    )
    if pin_host:
        _pin_host(client, endpoint or server.s3_url)
    return client


def _pin_host(client: Any, endpoint: str) -> None:
    """Virtual-host style against 127.0.0.1: botocore builds http://bucket.localhost:port/key
    and signs that Host; just before sending, the URL is pointed back at the real socket
    while the signed Host header stays, so the server sees `Host: bucket.localhost:port`."""
    from urllib.parse import urlsplit, urlunsplit

    real = urlsplit(endpoint)

    def before_send(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit((parts.scheme, real.netloc, parts.path, parts.query, parts.fragment))

    client.meta.events.register("before-send.s3", before_send)


def empty_and_delete(client: Any, bucket: str) -> None:
    try:
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        while True:
            keys = [{"Key": o["Key"]} for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
            if not keys:
                break
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass


@pytest.fixture(params=list(CHECKSUM_MODES))
def s3(request: pytest.FixtureRequest, server: Server) -> Any:
    """A path-style client on the S3 port, in each checksum mode."""
    return s3_client(server, mode=request.param)


@pytest.fixture
def admin(server: Server) -> Any:
    """A plain client for set-up and clean-up."""
    return s3_client(server)


@pytest.fixture
def s3_bucket(admin: Any) -> Iterator[str]:
    name = f"s3t-{uuid.uuid4().hex[:10]}"
    admin.create_bucket(Bucket=name)
    yield name
    empty_and_delete(admin, name)


def error_code(exc: Any) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
