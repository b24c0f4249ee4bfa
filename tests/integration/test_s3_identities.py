"""Users' own S3 keys (`s3proxy keys create`): a request signed with one runs under RLS
as that user, with the same rights as the user's JWT over REST; several identities at
once; revocation; secrets a database reader cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code, s3_client
from tests.rig import Server

admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture

AWS = str(Path(sys.executable).parent / "aws")

# the recipe of docs/rls.md: each user reads and writes only under `<their id>/`
OWN_FOLDER = "(storage.foldername(name))[1] = auth.uid()::text"


@pytest.fixture
def own_folder_policy(server: Server, s3_bucket: str) -> Iterator[str]:
    name = f"own_{uuid.uuid4().hex[:8]}"
    check = f"bucket_id = '{s3_bucket}' AND {OWN_FOLDER}"
    for action, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK"), ("UPDATE", "USING"),
                           ("DELETE", "USING")):
        server.sql(f'CREATE POLICY "{name}_{action.lower()}" ON storage.objects FOR {action} '
                   f"TO authenticated {clause} ({check})")
    server.sql(f'CREATE POLICY "{name}_bucket" ON storage.buckets FOR SELECT TO authenticated '
               f"USING (id = '{s3_bucket}')")
    yield name
    for action in ("select", "insert", "update", "delete"):
        server.sql(f'DROP POLICY "{name}_{action}" ON storage.objects')
    server.sql(f'DROP POLICY "{name}_bucket" ON storage.buckets')


def aws(server: Server, key_id: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=server.region,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return subprocess.run([AWS, "--endpoint-url", server.s3_url, *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_user_keys_obey_the_same_policy_as_rest(server: Server, s3_bucket: str, admin: Any,
                                                own_folder_policy: str, tmp_path: Path) -> None:
    alice_id, bob_id = str(uuid.uuid4()), str(uuid.uuid4())
    alice_key = server.user_key(alice_id, description="alice's laptop")
    bob_key = server.user_key(bob_id)
    alice = s3_client(server, key_id=alice_key[0], secret=alice_key[1])
    bob = s3_client(server, key_id=bob_key[0], secret=bob_key[1])
    alice_rest = httpx.Client(base_url=server.url, headers=server.headers(server.token("authenticated", sub=alice_id)),
                              timeout=30)
    # three identities at once: the admin key writes anywhere, each user only in their folder
    admin.put_object(Bucket=s3_bucket, Key="shared/by-admin", Body=b"admin")
    alice.put_object(Bucket=s3_bucket, Key=f"{alice_id}/a.txt", Body=b"alice's")
    bob.put_object(Bucket=s3_bucket, Key=f"{bob_id}/b.txt", Body=b"bob's")
    assert alice.get_object(Bucket=s3_bucket, Key=f"{alice_id}/a.txt")["Body"].read() == b"alice's"
    assert bob.get_object(Bucket=s3_bucket, Key=f"{bob_id}/b.txt")["Body"].read() == b"bob's"
    # alice is denied bob's folder over S3, exactly as her JWT is over REST
    with pytest.raises(ClientError) as exc:
        alice.get_object(Bucket=s3_bucket, Key=f"{bob_id}/b.txt")
    assert error_code(exc.value) == ("NoSuchKey", 404)
    assert alice_rest.get(f"object/authenticated/{s3_bucket}/{bob_id}/b.txt").json()["statusCode"] == "404"
    with pytest.raises(ClientError) as exc:
        alice.put_object(Bucket=s3_bucket, Key=f"{bob_id}/intruder", Body=b"x")
    assert error_code(exc.value) == ("AccessDenied", 403)
    r = alice_rest.post(f"object/{s3_bucket}/{bob_id}/intruder", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.json()["statusCode"] == "403"
    # ... and what REST allows her, S3 allows too, in both directions
    r = alice_rest.post(f"object/{s3_bucket}/{alice_id}/via-rest", content=b"rest", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert alice.get_object(Bucket=s3_bucket, Key=f"{alice_id}/via-rest")["Body"].read() == b"rest"
    assert alice_rest.get(f"object/authenticated/{s3_bucket}/{alice_id}/a.txt").content == b"alice's"
    listed = sorted(o["Key"] for o in alice.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert listed == [f"{alice_id}/a.txt", f"{alice_id}/via-rest"]
    alice.head_bucket(Bucket=s3_bucket)  # the bucket policy lets users see the bucket
    # deletes: bob's object, invisible to alice, counts as deleted for her (as a missing key
    # does: nothing is revealed) and survives; the admin sees everything
    result = alice.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": f"{bob_id}/b.txt"}]})
    assert [d["Key"] for d in result["Deleted"]] == [f"{bob_id}/b.txt"] and "Errors" not in result
    alice.delete_object(Bucket=s3_bucket, Key=f"{bob_id}/b.txt")
    all_keys = sorted(o["Key"] for o in admin.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert all_keys == sorted([f"{alice_id}/a.txt", f"{alice_id}/via-rest", f"{bob_id}/b.txt", "shared/by-admin"])
    # rows written with a user's key belong to the user, as with their JWT
    rows = server.sql("SELECT name, owner_id, owner::text FROM storage.objects WHERE bucket_id = $1 AND name = $2",
                      s3_bucket, f"{alice_id}/a.txt")
    assert rows == [{"name": f"{alice_id}/a.txt", "owner_id": alice_id, "owner": alice_id}]
    # aws-cli with bob's key: his folder works, alice's does not
    src = tmp_path / "f.txt"
    src.write_text("from the cli")
    done = aws(server, *bob_key, "s3", "cp", str(src), f"s3://{s3_bucket}/{bob_id}/cli.txt")
    assert done.returncode == 0, done.stderr
    done = aws(server, *bob_key, "s3", "cp", str(src), f"s3://{s3_bucket}/{alice_id}/cli.txt")
    assert done.returncode != 0 and "AccessDenied" in done.stderr
    done = aws(server, *bob_key, "s3", "ls", f"s3://{s3_bucket}/", "--recursive")
    assert done.returncode == 0 and f"{bob_id}/cli.txt" in done.stdout and alice_id not in done.stdout


def test_user_key_failures_and_revocation(server: Server, s3_bucket: str, own_folder_policy: str) -> None:
    sub = str(uuid.uuid4())
    key_id, secret = server.user_key(sub)
    user = s3_client(server, key_id=key_id, secret=secret)
    user.put_object(Bucket=s3_bucket, Key=f"{sub}/x", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3_client(server, key_id=key_id, secret=secret + "x").list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as exc:
        s3_client(server, key_id="SPK" + "A" * 17, secret=secret).list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("InvalidAccessKeyId", 403)
    # a session token is for the admin key and the anon key, never a user's own key
    token = server.token("authenticated", sub=str(uuid.uuid4()))
    with pytest.raises(ClientError) as exc:
        s3_client(server, key_id=key_id, secret=secret, token=token).list_objects_v2(Bucket=s3_bucket)
    assert error_code(exc.value) == ("InvalidToken", 400)
    # listed, then revoked: refused within the cache's few seconds
    listing = server.cli("keys", "list")
    assert key_id in listing and sub in listing
    assert key_id in server.cli("keys", "revoke", key_id)
    deadline = time.monotonic() + 10
    while True:
        try:
            user.list_objects_v2(Bucket=s3_bucket)
        except ClientError as error:
            assert error_code(error) == ("InvalidAccessKeyId", 403)
            break
        assert time.monotonic() < deadline, "a revoked key still works after 10 s"
        time.sleep(0.5)
    revoked_line = next(line for line in server.cli("keys", "list").splitlines() if key_id in line)
    assert revoked_line.split()[5] != "-"  # the revocation time


def test_database_readers_cannot_use_the_secrets(server: Server) -> None:
    key_id, secret = server.user_key(str(uuid.uuid4()))
    stored = server.sql("SELECT secret_encrypted FROM storage.s3proxy_credentials WHERE access_key_id = $1", key_id)
    assert len(stored) == 1 and secret not in stored[0]["secret_encrypted"]
    for role in ("anon", "authenticated", "service_role"):
        with pytest.raises(Exception, match="permission denied"):
            server.sql(f"DO $$ BEGIN SET LOCAL ROLE {role}; PERFORM * FROM storage.s3proxy_credentials; END $$")
