"""Canned ACLs as the bucket's public flag, and what unsigned (anonymous) S3 requests
may do: read public buckets, as REST /object/public does, and list them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import empty_and_delete, error_code
from tests.rig import Server

admin = s3_support.admin  # the shared fixture

AWS = str(Path(sys.executable).parent / "aws")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def anonymous(server: Server) -> Any:
    return boto3.client("s3", endpoint_url=server.s3_url, region_name=server.region,
                        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


@pytest.fixture
def buckets(server: Server, admin: Any) -> Iterator[tuple[str, str]]:
    """A public bucket and a private one, each with one object."""
    tag = uuid.uuid4().hex[:8]
    public, private = f"pub-{tag}", f"priv-{tag}"
    admin.create_bucket(Bucket=public, ACL="public-read")
    admin.create_bucket(Bucket=private)
    for name in (public, private):
        admin.put_object(Bucket=name, Key="dir/hello.txt", Body=b"hello", ContentType="text/plain")
    yield public, private
    for name in (public, private):
        empty_and_delete(admin, name)


def _denied(call: Any, code: tuple[str, int] = ("AccessDenied", 403)) -> None:
    with pytest.raises(ClientError) as exc:
        call()
    assert error_code(exc.value) == code, exc.value.response


def test_anonymous_reads_public_buckets_only(server: Server, buckets: tuple[str, str]) -> None:
    public, private = buckets
    anon = anonymous(server)
    # a public bucket: read, head, list (v1 and v2), and a missing key is NoSuchKey
    got = anon.get_object(Bucket=public, Key="dir/hello.txt")
    assert (got["Body"].read(), got["ContentType"]) == (b"hello", "text/plain")
    assert anon.head_object(Bucket=public, Key="dir/hello.txt")["ContentLength"] == 5
    assert anon.get_object(Bucket=public, Key="dir/hello.txt", Range="bytes=1-2")["Body"].read() == b"el"
    anon.head_bucket(Bucket=public)
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=public)["Contents"]] == ["dir/hello.txt"]
    assert [o["Key"] for o in anon.list_objects(Bucket=public)["Contents"]] == ["dir/hello.txt"]
    assert anon.list_objects_v2(Bucket=public, Delimiter="/")["CommonPrefixes"] == [{"Prefix": "dir/"}]
    _denied(lambda: anon.get_object(Bucket=public, Key="missing"), ("NoSuchKey", 404))
    _denied(lambda: anon.head_object(Bucket=public, Key="missing"), ("404", 404))
    # ... the same object REST serves on its public route
    assert httpx.get(f"{server.url}object/public/{public}/dir/hello.txt").content == b"hello"
    # everything else is refused, in a public bucket too
    for call in (lambda: anon.put_object(Bucket=public, Key="x", Body=b"x"),
                 lambda: anon.delete_object(Bucket=public, Key="dir/hello.txt"),
                 lambda: anon.delete_objects(Bucket=public, Delete={"Objects": [{"Key": "dir/hello.txt"}]}),
                 lambda: anon.copy_object(Bucket=public, Key="c", CopySource={"Bucket": public, "Key": "dir/hello.txt"}),
                 lambda: anon.create_multipart_upload(Bucket=public, Key="m"),
                 lambda: anon.get_bucket_acl(Bucket=public),
                 lambda: anon.put_bucket_acl(Bucket=public, ACL="private"),
                 lambda: anon.get_object_tagging(Bucket=public, Key="dir/hello.txt"),
                 lambda: anon.get_bucket_location(Bucket=public),
                 lambda: anon.list_multipart_uploads(Bucket=public),
                 lambda: anon.delete_bucket(Bucket=public),
                 lambda: anon.list_buckets()):
        _denied(call)
    assert anon.get_object(Bucket=public, Key="dir/hello.txt")["Body"].read() == b"hello"
    # a private bucket: nothing, whether or not the key exists (AccessDenied reveals no key)
    for call in (lambda: anon.get_object(Bucket=private, Key="dir/hello.txt"),
                 lambda: anon.get_object(Bucket=private, Key="missing"),
                 lambda: anon.list_objects_v2(Bucket=private),
                 lambda: anon.list_objects(Bucket=private),
                 lambda: anon.put_object(Bucket=private, Key="x", Body=b"x")):
        _denied(call)
    _denied(lambda: anon.head_object(Bucket=private, Key="dir/hello.txt"), ("403", 403))
    _denied(lambda: anon.head_bucket(Bucket=private), ("403", 403))
    # a missing bucket is NoSuchBucket, as AWS answers anyone (bucket names are global)
    missing = f"nope-{uuid.uuid4().hex[:8]}"
    for call in (lambda: anon.get_object(Bucket=missing, Key="k"), lambda: anon.list_objects_v2(Bucket=missing),
                 lambda: anon.put_object(Bucket=missing, Key="k", Body=b"k")):
        _denied(call, ("NoSuchBucket", 404))
    _denied(lambda: anon.head_bucket(Bucket=missing), ("404", 404))


def test_anonymous_aws_cli(server: Server, buckets: tuple[str, str], tmp_path: Path) -> None:
    public, private = buckets
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AWS, "--endpoint-url", server.s3_url, "--no-sign-request", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    done = aws("s3", "ls", "--recursive", f"s3://{public}")
    assert done.returncode == 0 and "dir/hello.txt" in done.stdout, done.stderr
    done = aws("s3", "cp", f"s3://{public}/dir/hello.txt", str(tmp_path / "h.txt"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "h.txt").read_bytes() == b"hello"
    done = aws("s3", "ls", f"s3://{private}")
    assert done.returncode != 0 and "AccessDenied" in done.stderr
    done = aws("s3", "cp", str(tmp_path / "h.txt"), f"s3://{public}/up.txt")
    assert done.returncode != 0 and "AccessDenied" in done.stderr


def test_bucket_acl_is_the_public_flag(server: Server, admin: Any, buckets: tuple[str, str]) -> None:
    public, private = buckets
    http = httpx.Client(base_url=server.url, headers=server.headers(), timeout=30)

    def grants(bucket: str) -> list[tuple[str, str]]:
        acl = admin.get_bucket_acl(Bucket=bucket)
        return [(g["Grantee"].get("ID") or g["Grantee"]["URI"], g["Permission"]) for g in acl["Grants"]]

    owner = admin.list_buckets()["Owner"]["ID"]
    acl = admin.get_bucket_acl(Bucket=private)
    assert acl["Owner"]["ID"] == owner  # as ListBuckets and fetch-owner show it
    assert grants(private) == [(owner, "FULL_CONTROL")]
    assert grants(public) == [(owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    # canned ACLs flip the flag REST shows
    admin.put_bucket_acl(Bucket=private, ACL="public-read")
    assert http.get(f"bucket/{private}").json()["public"] is True
    assert grants(private) == [(owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    assert httpx.get(f"{server.url}object/public/{private}/dir/hello.txt").content == b"hello"
    admin.put_bucket_acl(Bucket=private, ACL="private")
    assert http.get(f"bucket/{private}").json()["public"] is False
    # a document saying the same works too (get, edit, put back: what consoles do)
    policy = admin.get_bucket_acl(Bucket=public)
    admin.put_bucket_acl(Bucket=public, AccessControlPolicy={"Owner": policy["Owner"],
                                                              "Grants": policy["Grants"][:1]})
    assert http.get(f"bucket/{public}").json()["public"] is False
    admin.put_bucket_acl(Bucket=public, AccessControlPolicy={"Owner": policy["Owner"], "Grants": policy["Grants"]})
    assert http.get(f"bucket/{public}").json()["public"] is True
    # what a public flag cannot say is refused, and nothing changes
    unsupported = ("AccessControlListNotSupported", 400)
    _denied(lambda: admin.put_bucket_acl(Bucket=private, ACL="public-read-write"), unsupported)
    _denied(lambda: admin.put_bucket_acl(Bucket=private, ACL="authenticated-read"), unsupported)
    _denied(lambda: admin.put_bucket_acl(Bucket=private, GrantRead=f"uri={ALL_USERS}"), unsupported)
    other = {"Grantee": {"Type": "CanonicalUser", "ID": "someone-else"}, "Permission": "READ"}
    _denied(lambda: admin.put_bucket_acl(Bucket=private, AccessControlPolicy={
        "Owner": policy["Owner"], "Grants": [*policy["Grants"][:1], other]}), unsupported)
    write = {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "WRITE"}
    _denied(lambda: admin.put_bucket_acl(Bucket=private, AccessControlPolicy={
        "Owner": policy["Owner"], "Grants": [write]}), unsupported)
    _denied(lambda: admin.put_bucket_acl(Bucket=private, ACL="no-such-acl"), ("InvalidArgument", 400))
    assert http.get(f"bucket/{private}").json()["public"] is False
    name = f"rw-{uuid.uuid4().hex[:8]}"
    _denied(lambda: admin.create_bucket(Bucket=name, ACL="public-read-write"), unsupported)
    assert http.get(f"bucket/{name}").json()["statusCode"] == "404"


def test_object_acl_follows_the_bucket(server: Server, admin: Any, buckets: tuple[str, str]) -> None:
    public, private = buckets
    owner = admin.list_objects_v2(Bucket=private, FetchOwner=True)["Contents"][0]["Owner"]["ID"]
    acl = admin.get_object_acl(Bucket=private, Key="dir/hello.txt")
    assert acl["Owner"]["ID"] == owner
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    acl = admin.get_object_acl(Bucket=public, Key="dir/hello.txt")
    assert [(g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"]] == [
        (None, "FULL_CONTROL"), (ALL_USERS, "READ")]
    # the ACL the object has already (its bucket's) is accepted; no other
    admin.put_object_acl(Bucket=private, Key="dir/hello.txt", ACL="private")
    admin.put_object_acl(Bucket=public, Key="dir/hello.txt", ACL="public-read")
    _denied(lambda: admin.put_object_acl(Bucket=private, Key="dir/hello.txt", ACL="public-read"),
            ("AccessControlListNotSupported", 400))
    _denied(lambda: admin.put_object_acl(Bucket=public, Key="dir/hello.txt", ACL="private"),
            ("AccessControlListNotSupported", 400))
    _denied(lambda: admin.get_object_acl(Bucket=private, Key="missing"), ("NoSuchKey", 404))


def test_aws_cli_acl(server: Server, buckets: tuple[str, str]) -> None:
    _, private = buckets
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.s3_key_id, AWS_SECRET_ACCESS_KEY=server.s3_secret,
               AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AWS, "--endpoint-url", server.s3_url, *args], env=env, capture_output=True,
                              text=True, timeout=120)

    done = aws("s3api", "put-bucket-acl", "--bucket", private, "--acl", "public-read")
    assert done.returncode == 0, done.stderr
    done = aws("s3api", "get-bucket-acl", "--bucket", private)
    assert done.returncode == 0 and ALL_USERS in done.stdout
    done = aws("s3api", "put-bucket-acl", "--bucket", private, "--acl", "public-read-write")
    assert done.returncode != 0 and "AccessControlListNotSupported" in done.stderr
