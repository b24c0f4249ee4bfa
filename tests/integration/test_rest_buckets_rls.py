"""Bucket authorization is Postgres RLS, with Supabase's helpers (`auth.jwt()`,
`auth.uid()`, `auth.role()`) working unchanged; and the storage3 client's bucket API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from storage3 import SyncStorageClient

from tests.rig import Server


@pytest.fixture
def sub_prefix_policy(server: Server) -> Iterator[str]:
    """authenticated users may create and see buckets whose name starts with their sub."""
    name = f"bucket_prefix_{uuid.uuid4().hex[:8]}"
    server.sql(
        f'CREATE POLICY "{name}_insert" ON storage.buckets FOR INSERT TO authenticated '
        "WITH CHECK (name LIKE (auth.jwt() ->> 'sub') || '-%' AND auth.role() = 'authenticated')"
    )
    server.sql(
        f'CREATE POLICY "{name}_select" ON storage.buckets FOR SELECT TO authenticated '
        "USING (owner_id = auth.jwt() ->> 'sub')"
    )
    yield name
    server.sql(f'DROP POLICY "{name}_insert" ON storage.buckets')
    server.sql(f'DROP POLICY "{name}_select" ON storage.buckets')


def test_authenticated_user_creates_only_own_prefix(server: Server, http: httpx.Client,
                                                   sub_prefix_policy: str) -> None:
    sub = f"u{uuid.uuid4().hex[:8]}"
    user = server.headers(server.token("authenticated", sub=sub))
    r = httpx.post(server.url + "bucket", json={"name": f"{sub}-x"}, headers=user)
    assert r.status_code == 200, r.text
    r = httpx.post(server.url + "bucket", json={"name": "other"}, headers=user)
    assert r.status_code == 400
    assert r.json()["statusCode"] == "403"
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"] == "new row violates row-level security policy"
    # the owner is recorded and the user sees exactly their own bucket
    mine = httpx.get(server.url + "bucket", headers=user).json()
    assert [b["name"] for b in mine] == [f"{sub}-x"]
    assert http.get(f"bucket/{sub}-x").status_code == 200
    http.delete(f"bucket/{sub}-x")


def test_uuid_sub_sets_owner(server: Server, http: httpx.Client, sub_prefix_policy: str) -> None:
    sub = str(uuid.uuid4())
    user = server.headers(server.token("authenticated", sub=sub))
    assert httpx.post(server.url + "bucket", json={"name": f"{sub}-y"}, headers=user).status_code == 200
    assert http.get(f"bucket/{sub}-y").json()["owner"] == sub
    row = server.sql("SELECT owner::text AS owner, owner_id FROM storage.buckets WHERE id = $1", f"{sub}-y")
    assert row == [{"owner": sub, "owner_id": sub}]
    http.delete(f"bucket/{sub}-y")


def test_anon_lists_nothing_and_cannot_create(server: Server, bucket: str) -> None:
    anon = server.headers(server.anon_token)
    r = httpx.get(server.url + "bucket", headers=anon)
    assert r.status_code == 200 and r.json() == []
    r = httpx.get(server.url + f"bucket/{bucket}", headers=anon)
    assert r.status_code == 400 and r.json()["code"] == "NoSuchBucket"
    r = httpx.post(server.url + "bucket", json={"name": f"anon-{uuid.uuid4().hex[:6]}"}, headers=anon)
    assert r.json()["code"] == "AccessDenied"
    r = httpx.delete(server.url + f"bucket/{bucket}", headers=anon)
    assert r.json()["code"] == "NoSuchBucket"  # RLS hides it: deleting 0 rows


def test_service_role_bypasses_rls(server: Server, http: httpx.Client, bucket: str) -> None:
    assert any(b["id"] == bucket for b in http.get("bucket").json())


def test_policies_see_storage_operation(server: Server, http: httpx.Client) -> None:
    """`storage.operation()` names the operation, so a policy can allow one route only."""
    name = f"op_{uuid.uuid4().hex[:8]}"
    server.sql(
        f'CREATE POLICY "{name}" ON storage.buckets FOR SELECT TO anon '
        "USING (storage.allow_only_operation('bucket.get') AND public)"
    )
    bucket = f"pub-{name}"
    http.post("bucket", json={"name": bucket, "public": True})
    try:
        anon = server.headers(server.anon_token)
        assert httpx.get(server.url + f"bucket/{bucket}", headers=anon).status_code == 200
        assert all(b["id"] != bucket for b in httpx.get(server.url + "bucket", headers=anon).json())
    finally:
        server.sql(f'DROP POLICY "{name}" ON storage.buckets')
        http.delete(f"bucket/{bucket}")


def test_direct_deletes_are_refused_without_the_api(server: Server, bucket: str) -> None:
    with pytest.raises(Exception, match="Direct deletion"):
        server.sql("DELETE FROM storage.buckets WHERE id = $1", bucket)


def test_storage3_bucket_methods(server: Server, unique: str) -> None:
    client = SyncStorageClient(server.url, {"Authorization": f"Bearer {server.service_token}",
                                            "apikey": server.service_token})
    name = f"s3-{unique}"
    client.create_bucket(name, options={"public": True, "file_size_limit": 1024,
                                        "allowed_mime_types": ["text/plain"]})
    got = client.get_bucket(name)
    assert got.id == name and got.public is True and got.file_size_limit == 1024
    assert got.allowed_mime_types == ["text/plain"]
    assert name in [b.name for b in client.list_buckets()]
    client.update_bucket(name, options={"public": False, "file_size_limit": 2048})
    got = client.get_bucket(name)
    assert got.public is False and got.file_size_limit == 2048
    assert "message" in client.empty_bucket(name)
    client.delete_bucket(name)
    assert name not in [b.name for b in client.list_buckets()]
    with pytest.raises(Exception) as caught:
        client.get_bucket(name)
    assert "not found" in str(caught.value).lower()
