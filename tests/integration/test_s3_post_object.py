"""Browser form uploads (S3 POST Object): forms built by boto3's generate_presigned_post,
sent by httpx and by a real browser (headless Chromium driven by Playwright)."""

from __future__ import annotations

import hashlib
import html
import os
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.browser_support import headless_chromium
from tests.integration.s3_support import empty_and_delete, error_code
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture



def presigner(server: Server, *, endpoint: str | None = None, version: str = "s3v4", key_id: str | None = None,
              secret: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=endpoint or server.s3_url, region_name=server.region,
                        aws_access_key_id=key_id or server.s3_key_id, aws_secret_access_key=secret or server.s3_secret,
                        config=Config(signature_version=version, s3={"addressing_style": "path"}))


def send(post: dict[str, Any], data: bytes, *, filename: str = "photo.txt", extra: dict[str, str] | None = None,
         content_type: str = "application/octet-stream") -> httpx.Response:
    """The form as a browser sends it: the fields in order, then the file."""
    fields = {**post["fields"], **(extra or {})}
    return httpx.post(post["url"], data=fields, files={"file": (filename, data, content_type)}, timeout=60)


def error_of(r: httpx.Response) -> tuple[str, int]:
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return code, r.status_code


@pytest.mark.parametrize("port", ["s3", "rest"])
def test_presigned_post_with_conditions(server: Server, s3_bucket: str, admin: Any, port: str) -> None:
    endpoint = server.s3_url if port == "s3" else server.url + "s3"
    fields = {"Content-Type": "text/plain", "x-amz-meta-uuid": "14365123651274", "success_action_status": "201",
              "Cache-Control": "max-age=60"}
    conditions = [{"Content-Type": "text/plain"}, ["starts-with", "$x-amz-meta-uuid", "1436"],
                  {"success_action_status": "201"}, {"Cache-Control": "max-age=60"},
                  ["content-length-range", 1, 1000]]
    post = presigner(server, endpoint=endpoint).generate_presigned_post(
        s3_bucket, "uploads/${filename}", Fields=fields, Conditions=conditions, ExpiresIn=300)
    r = send(post, b"hello form", filename="notes.txt")
    assert r.status_code == 201, r.text
    etag = f'"{hashlib.md5(b"hello form").hexdigest()}"'
    for part in ("<Bucket>" + s3_bucket, "<Key>uploads/notes.txt</Key>", f"<ETag>{html.escape(etag, quote=False)}"):
        assert part in r.text
    assert r.headers["etag"] == etag and r.headers["location"].endswith(f"/{s3_bucket}/uploads/notes.txt")
    got = admin.get_object(Bucket=s3_bucket, Key="uploads/notes.txt")
    assert (got["Body"].read(), got["ContentType"], got["CacheControl"], got["Metadata"]) == (
        b"hello form", "text/plain", "max-age=60", {"uuid": "14365123651274"})
    # the form's fields are the policy's: changing one breaks a condition
    r = send(post, b"hello", extra={"Content-Type": "text/html"})
    assert error_of(r) == ("AccessDenied", 403) and "Policy Condition failed" in r.text
    r = send(post, b"hello", extra={"x-amz-meta-other": "1"})
    assert error_of(r) == ("AccessDenied", 403) and "Extra input fields" in r.text
    r = send(post, b"hello", extra={"x-amz-signature": "0" * 64})
    assert error_of(r) == ("SignatureDoesNotMatch", 403)
    # content-length-range, enforced while the file streams; nothing is stored
    r = send(post, b"x" * 1001, filename="big.txt")
    assert error_of(r) == ("EntityTooLarge", 413)
    r = send(post, b"", filename="empty.txt")
    assert error_of(r) == ("EntityTooSmall", 400)
    keys = [o["Key"] for o in admin.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["uploads/notes.txt"]


def test_success_actions(server: Server, s3_bucket: str, admin: Any) -> None:
    signer = presigner(server)
    post = signer.generate_presigned_post(s3_bucket, "plain")
    r = send(post, b"204 by default")
    assert (r.status_code, r.content) == (204, b"")
    assert r.headers["etag"] == f'"{hashlib.md5(b"204 by default").hexdigest()}"'
    post = signer.generate_presigned_post(s3_bucket, "ok", Fields={"success_action_status": "200"},
                                          Conditions=[{"success_action_status": "200"}])
    r = send(post, b"200")
    assert (r.status_code, r.content) == (200, b"")
    target = "https://example.invalid/done?from=form"
    post = signer.generate_presigned_post(s3_bucket, "redirected", Fields={"success_action_redirect": target},
                                          Conditions=[{"success_action_redirect": target}])
    r = send(post, b"303")
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://example.invalid/done"
    query = parse_qs(location.query)
    assert query == {"from": ["form"], "bucket": [s3_bucket], "key": ["redirected"],
                     "etag": [f'"{hashlib.md5(b"303").hexdigest()}"']}
    assert admin.get_object(Bucket=s3_bucket, Key="redirected")["Body"].read() == b"303"


def test_refusals(server: Server, s3_bucket: str, admin: Any) -> None:
    signer = presigner(server)
    post = signer.generate_presigned_post(s3_bucket, "k", ExpiresIn=1)
    # an unsigned form: AWS allows it only on public-read-write buckets, which we never have
    r = httpx.post(post["url"], data={"key": "k"}, files={"file": ("f", b"x")})
    assert error_of(r) == ("AccessDenied", 403)
    # not a form at all
    r = httpx.post(post["url"], content=b"key=k", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert error_of(r) == ("PreconditionFailed", 412)
    # a form without its file
    r = httpx.post(post["url"], data=post["fields"], files={"other": ("f", b"x")})
    assert error_of(r) == ("InvalidArgument", 400)
    # an unknown bucket
    missing = signer.generate_presigned_post(f"nope-{uuid.uuid4().hex[:8]}", "k")
    assert error_of(send(missing, b"x")) == ("NoSuchBucket", 404)
    # the policy's bucket is the URL's
    other = signer.generate_presigned_post("another-bucket", "k")
    r = httpx.post(post["url"], data=other["fields"], files={"file": ("f", b"x")})
    assert error_of(r)[1] in (400, 403)
    # expired
    time.sleep(1.5)
    assert error_of(send(post, b"late")) == ("AccessDenied", 403)
    assert "Contents" not in admin.list_objects_v2(Bucket=s3_bucket)


def test_sigv2_form_and_user_key_form(server: Server, s3_bucket: str, admin: Any) -> None:
    v2 = presigner(server, version="s3").generate_presigned_post(s3_bucket, "v2-form")
    assert "AWSAccessKeyId" in v2["fields"]
    assert send(v2, b"signed with v2").status_code == 204
    assert admin.get_object(Bucket=s3_bucket, Key="v2-form")["Body"].read() == b"signed with v2"
    # a user's key signs forms as that user: RLS decides, as for any upload
    sub = str(uuid.uuid4())
    key_id, secret = server.user_key(sub)
    name = f"post_{uuid.uuid4().hex[:8]}"
    own = f"bucket_id = '{s3_bucket}' AND (storage.foldername(name))[1] = auth.uid()::text"
    for action, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK"), ("UPDATE", "USING")):  # S3 writes upsert
        server.sql(f'CREATE POLICY "{name}_{action}" ON storage.objects FOR {action} TO authenticated {clause} ({own})')
    try:
        user = presigner(server, key_id=key_id, secret=secret)
        assert send(user.generate_presigned_post(s3_bucket, f"{sub}/mine"), b"mine").status_code == 204
        r = send(user.generate_presigned_post(s3_bucket, "someone-else/theirs"), b"no")
        assert error_of(r) == ("AccessDenied", 403)
    finally:
        for action in ("SELECT", "INSERT", "UPDATE"):
            server.sql(f'DROP POLICY "{name}_{action}" ON storage.objects')
    rows = server.sql("SELECT owner_id FROM storage.objects WHERE bucket_id = $1 AND name = $2", s3_bucket, f"{sub}/mine")
    assert rows == [{"owner_id": sub}]
    with pytest.raises(ClientError) as exc:
        admin.head_object(Bucket=s3_bucket, Key="someone-else/theirs")
    assert error_code(exc.value)[1] == 404


def test_large_form_upload_streams(server: Server, s3_bucket: str, admin: Any, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024) * 24  # 24 MiB
    post = presigner(server).generate_presigned_post(s3_bucket, "big.bin",
                                                     Conditions=[["content-length-range", 0, 64 * 1024 * 1024]])
    r = send(post, data)
    assert r.status_code == 204, r.text
    got = admin.get_object(Bucket=s3_bucket, Key="big.bin")
    assert got["ContentLength"] == len(data)
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(data).digest()


def test_browser_form_upload_to_public_bucket(server: Server, admin: Any, tmp_path: Path) -> None:
    """A real browser submits the presigned form from a page; anyone reads the object back."""
    bucket = f"web-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=bucket, ACL="public-read")
    try:
        post = presigner(server).generate_presigned_post(
            bucket, "photos/${filename}", Fields={"Content-Type": "image/png", "success_action_status": "201"},
            Conditions=[["starts-with", "$Content-Type", "image/"], {"success_action_status": "201"},
                        ["content-length-range", 1, 1024 * 1024]], ExpiresIn=300)
        inputs = "\n".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                           for k, v in post["fields"].items())
        page_html = (f'<!doctype html><html><body><form id="f" action="{html.escape(post["url"])}" method="post" '
                     f'enctype="multipart/form-data">{inputs}<input type="file" name="file">'
                     '<input type="submit" value="Upload"></form></body></html>')
        picture = tmp_path / "pixel.png"
        picture.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
        with headless_chromium() as browser:
            page = browser.new_page()
            page.set_content(page_html)
            page.set_input_files("input[name=file]", str(picture))
            with page.expect_navigation() as navigation:
                page.click("input[type=submit]")
            response = navigation.value
            assert response is not None and response.status == 201
            assert "<Key>photos/pixel.png</Key>" in response.text()
            # read back, unsigned, in the browser too
            back = page.goto(f"{server.s3_url}/{bucket}/photos/pixel.png")
            assert back is not None and back.status == 200 and back.body() == picture.read_bytes()
        got = httpx.get(f"{server.s3_url}/{bucket}/photos/pixel.png")
        assert (got.content, got.headers["content-type"]) == (picture.read_bytes(), "image/png")
        assert httpx.get(f"{server.url}object/public/{bucket}/photos/pixel.png").content == picture.read_bytes()
    finally:
        empty_and_delete(admin, bucket)
