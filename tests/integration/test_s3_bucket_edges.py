"""Bucket edges as AWS answers them (issue 16, items 4, 7 and 8): deleting a bucket that
holds only unfinished multipart uploads (S3, REST, aws-cli; a racing CreateMultipartUpload),
re-creating a bucket that exists (yours in us-east-1, yours elsewhere, someone else's),
and the S3 bucket-name length."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS
from tests.integration import s3_support
from tests.integration.s3_support import error_code, s3_client
from tests.integration.wire import backend_upstream, own_server
from tests.rig import Postgres, Server

admin = s3_support.admin  # the shared fixture

AWS = str(Path(sys.executable).parent / "aws")


def backend_uploads(server: Server) -> set[str]:
    """The ids of the multipart uploads the backend itself still holds."""
    if server.backend == "file":
        root = Path(server.workdir) / "files"
        return {p.name for p in root.rglob(".multipart/*") if p.is_dir()}
    assert server.upstream is not None
    listed = server.upstream.client().list_multipart_uploads(Bucket=server.upstream.bucket)
    return {u["UploadId"] for u in listed.get("Uploads", [])}


def upload_rows(server: Server, bucket: str) -> int:
    rows = server.sql("SELECT count(*) AS n FROM storage.s3_multipart_uploads WHERE bucket_id = $1", bucket)
    return int(rows[0]["n"])


@pytest.fixture
def name() -> str:
    return f"edge-{uuid.uuid4().hex[:10]}"


def start_upload(client: Any, bucket: str, key: str = "big/file.bin") -> str:
    upload_id = str(client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"p" * 1024)
    return upload_id


# --- DeleteBucket with unfinished uploads ------------------------------------------------


def test_delete_bucket_aborts_unfinished_uploads(server: Server, admin: Any, name: str) -> None:
    """CreateBucket, CreateMultipartUpload (+ a part), DeleteBucket: 204, the upload and
    its part gone from the database and the backend. GetBucketVersioning still says
    unversioned before."""
    admin.create_bucket(Bucket=name)
    ids = [start_upload(admin, name), start_upload(admin, name, "other")]
    assert set(ids) <= backend_uploads(server)
    assert "Status" not in admin.get_bucket_versioning(Bucket=name)
    assert admin.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        admin.head_bucket(Bucket=name)
    assert error_code(exc.value)[1] == 404
    with pytest.raises(ClientError) as exc:
        admin.list_multipart_uploads(Bucket=name)
    assert error_code(exc.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as exc:
        admin.upload_part(Bucket=name, Key="big/file.bin", UploadId=ids[0], PartNumber=2, Body=b"x")
    assert error_code(exc.value) == ("NoSuchBucket", 404)
    assert upload_rows(server, name) == 0
    assert not set(ids) & backend_uploads(server)
    admin.create_bucket(Bucket=name)  # the name is free again, and nothing of the old uploads shows
    try:
        assert "Uploads" not in admin.list_multipart_uploads(Bucket=name)
    finally:
        admin.delete_bucket(Bucket=name)


def test_objects_still_count_and_then_nothing_changes(server: Server, admin: Any, name: str) -> None:
    admin.create_bucket(Bucket=name)
    upload_id = start_upload(admin, name)
    admin.put_object(Bucket=name, Key="kept", Body=b"k")
    try:
        with pytest.raises(ClientError) as exc:
            admin.delete_bucket(Bucket=name)
        assert error_code(exc.value) == ("BucketNotEmpty", 409)
        parts = admin.list_parts(Bucket=name, Key="big/file.bin", UploadId=upload_id)["Parts"]
        assert [p["PartNumber"] for p in parts] == [1]
        assert upload_id in backend_uploads(server)
    finally:
        s3_support.empty_and_delete(admin, name)


def test_rest_delete_and_empty_abort_uploads(server: Server, http: httpx.Client, admin: Any, name: str) -> None:
    assert http.post("bucket", json={"name": name}).status_code == 200
    first = start_upload(admin, name)
    admin.put_object(Bucket=name, Key="obj", Body=b"o")
    r = http.post(f"bucket/{name}/empty", json={})
    assert r.status_code == 200, r.text
    assert upload_rows(server, name) == 0 and first not in backend_uploads(server)
    second = start_upload(admin, name)
    r = http.delete(f"bucket/{name}")
    assert (r.status_code, r.json()) == (200, {"message": "Successfully deleted"})
    assert upload_rows(server, name) == 0 and second not in backend_uploads(server)
    assert http.get(f"bucket/{name}").json()["statusCode"] == "404"


def test_a_caller_rls_refuses_changes_nothing(server: Server, http: httpx.Client, admin: Any,
                                              name: str) -> None:
    """A user who may see the bucket but not delete it: refused, and the upload (someone
    else's, which the delete would have aborted) is still there, since the abort and the
    refused DELETE were one transaction."""
    policy = f"see_{uuid.uuid4().hex[:8]}"
    server.sql(f'CREATE POLICY "{policy}" ON storage.buckets FOR SELECT TO authenticated USING (true)')
    admin.create_bucket(Bucket=name)
    upload_id = start_upload(admin, name)
    try:
        user = server.headers(server.token("authenticated", sub=str(uuid.uuid4())))
        assert httpx.get(f"{server.url}bucket/{name}", headers=user).status_code == 200
        r = httpx.delete(f"{server.url}bucket/{name}", headers=user)
        assert r.json()["statusCode"] == "404", r.text
        assert upload_rows(server, name) == 1 and upload_id in backend_uploads(server)
        assert admin.list_parts(Bucket=name, Key="big/file.bin", UploadId=upload_id)["Parts"]
    finally:
        server.sql(f'DROP POLICY "{policy}" ON storage.buckets')
        s3_support.empty_and_delete(admin, name)


def test_uploads_racing_a_bucket_deletion(server: Server, name: str) -> None:
    """CreateMultipartUpload in a loop on four threads while the bucket is deleted. Each
    create either came first (its UploadId returned; the deletion aborted it) or came
    after and failed with NoSuchBucket; none may fail otherwise, and in the end no upload
    of the bucket is left in the database or the backend."""
    client = s3_client(server)
    client.create_bucket(Bucket=name)
    created: list[str] = []
    refused: list[tuple[str, int]] = []
    other: list[BaseException] = []
    started = threading.Barrier(5)
    before = backend_uploads(server)

    def creator(n: int) -> None:
        own = s3_client(server)
        started.wait()
        for i in range(40):
            try:
                created.append(own.create_multipart_upload(Bucket=name, Key=f"k{n}/{i}")["UploadId"])
            except ClientError as exc:
                refused.append(error_code(exc))
                return
            except BaseException as exc:  # noqa: BLE001 - reported below
                other.append(exc)
                return

    threads = [threading.Thread(target=creator, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    started.wait()
    while len(created) < 8 and not refused and not other:
        pass
    client.delete_bucket(Bucket=name)
    for t in threads:
        t.join(60)
    assert not other, other
    assert created and refused, (len(created), refused)
    assert set(refused) == {("NoSuchBucket", 404)}
    assert upload_rows(server, name) == 0
    assert not (backend_uploads(server) - before)


def aws(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.s3_key_id, AWS_SECRET_ACCESS_KEY=server.s3_secret,
               AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return subprocess.run([AWS, "--endpoint-url", server.s3_url, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_aws_cli_rb_with_an_unfinished_upload(server: Server, name: str) -> None:
    """`aws s3 rb` after an upload was left unfinished, and `rb --force` with objects too
    (it deletes the objects, then the bucket: the cleanup loops of real tools)."""
    assert aws(server, "s3", "mb", f"s3://{name}").returncode == 0
    started = aws(server, "s3api", "create-multipart-upload", "--bucket", name, "--key", "left/behind")
    assert started.returncode == 0, started.stderr
    removed = aws(server, "s3", "rb", f"s3://{name}")
    assert removed.returncode == 0, removed.stderr
    assert upload_rows(server, name) == 0
    assert aws(server, "s3", "mb", f"s3://{name}").returncode == 0
    assert aws(server, "s3api", "create-multipart-upload", "--bucket", name, "--key", "k").returncode == 0
    assert aws(server, "s3api", "put-object", "--bucket", name, "--key", "o").returncode == 0
    forced = aws(server, "s3", "rb", "--force", f"s3://{name}")
    assert forced.returncode == 0, forced.stderr
    assert name not in aws(server, "s3", "ls").stdout


# --- CreateBucket on a taken name, and the name's length --------------------------------


@pytest.fixture
def bucket_insert_policy(server: Server) -> Iterator[None]:
    """authenticated users may create buckets (any name)."""
    policy = f"create_{uuid.uuid4().hex[:8]}"
    server.sql(f'CREATE POLICY "{policy}" ON storage.buckets FOR INSERT TO authenticated WITH CHECK (true)')
    yield
    server.sql(f'DROP POLICY "{policy}" ON storage.buckets')


def test_recreating_a_bucket(server: Server, admin: Any, name: str, bucket_insert_policy: None) -> None:
    """us-east-1: your own bucket again is 200 and leaves it as it was (objects, public
    flag); a bucket another identity made is 409 BucketAlreadyExists."""
    admin.create_bucket(Bucket=name, ACL="public-read")
    admin.put_object(Bucket=name, Key="keep", Body=b"kept")
    try:
        again = admin.create_bucket(Bucket=name)
        assert again["ResponseMetadata"]["HTTPStatusCode"] == 200 and again["Location"] == f"/{name}"
        assert [o["Key"] for o in admin.list_objects_v2(Bucket=name)["Contents"]] == ["keep"]
        assert server.sql("SELECT public FROM storage.buckets WHERE id = $1", name) == [{"public": True}]
        user = s3_client(server, token=server.token("authenticated", sub=str(uuid.uuid4())))
        with pytest.raises(ClientError) as exc:
            user.create_bucket(Bucket=name)
        assert error_code(exc.value) == ("BucketAlreadyExists", 409)
        mine = f"{name}-u"
        user.create_bucket(Bucket=mine)
        try:
            assert user.create_bucket(Bucket=mine)["ResponseMetadata"]["HTTPStatusCode"] == 200
            with pytest.raises(ClientError) as exc:  # the admin did not make this one
                admin.create_bucket(Bucket=mine)
            assert error_code(exc.value) == ("BucketAlreadyExists", 409)
        finally:
            admin.delete_bucket(Bucket=mine)
        # REST keeps Supabase's answer for any duplicate
        r = httpx.post(server.url + "bucket", json={"name": name}, headers=server.headers())
        assert r.json()["statusCode"] == "409" and r.json()["error"] == "Duplicate"
    finally:
        s3_support.empty_and_delete(admin, name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recreating_your_bucket_outside_us_east_1(request: pytest.FixtureRequest, postgres: Postgres,
                                                  backend: str) -> None:
    """Every region but us-east-1: 409 BucketAlreadyOwnedByYou."""
    with own_server(backend, postgres, backend_upstream(request, backend),
                    env={"S3_PROTOCOL_REGION": "eu-central-1"}) as srv:
        srv.region = "eu-central-1"
        client = s3_client(srv)
        client.create_bucket(Bucket="mine", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        with pytest.raises(ClientError) as exc:
            client.create_bucket(Bucket="mine", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        assert error_code(exc.value) == ("BucketAlreadyOwnedByYou", 409)


def test_s3_bucket_names_need_three_to_63_characters(server: Server, admin: Any, http: httpx.Client) -> None:
    """S3 CreateBucket refuses what AWS refuses for length; REST keeps Supabase's 1-100,
    and a short bucket REST made stays fully usable over S3."""
    tag = uuid.uuid4().hex[:6]
    for bad in ("ab", "x", "a" * 64):
        with pytest.raises(ClientError) as exc:
            admin.create_bucket(Bucket=bad)
        assert error_code(exc.value) == ("InvalidBucketName", 400)
    long_name = f"l{tag}" + "x" * 56  # 63
    admin.create_bucket(Bucket=long_name)
    admin.delete_bucket(Bucket=long_name)
    short = tag[:2]
    assert http.post("bucket", json={"name": short}).status_code == 200
    try:
        admin.put_object(Bucket=short, Key="k", Body=b"short bucket")
        assert admin.get_object(Bucket=short, Key="k")["Body"].read() == b"short bucket"
        assert [o["Key"] for o in admin.list_objects_v2(Bucket=short)["Contents"]] == ["k"]
        admin.delete_object(Bucket=short, Key="k")
        admin.delete_bucket(Bucket=short)
    finally:
        http.delete(f"bucket/{short}")
