"""Row-level security on every object route (reference §5.3): hidden rows look missing
(NoSuchKey), refused writes are AccessDenied "new row violates row-level security policy"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.rig import Server

RLS_DENIED = "new row violates row-level security policy"


@pytest.fixture
def owned_bucket(server: Server, bucket: str) -> Iterator[str]:
    """authenticated users may read, write, update and delete their own objects, and
    only under a folder named after their sub."""
    tag = f"p{uuid.uuid4().hex[:8]}"
    mine = f"bucket_id = '{bucket}' AND owner_id = (auth.jwt() ->> 'sub')"
    folder = f"bucket_id = '{bucket}' AND (storage.foldername(name))[1] = (auth.jwt() ->> 'sub')"
    policies = {
        "select": f"FOR SELECT TO authenticated USING ({mine})",
        "insert": f"FOR INSERT TO authenticated WITH CHECK ({folder})",
        "update": f"FOR UPDATE TO authenticated USING ({mine}) WITH CHECK ({folder})",
        "delete": f"FOR DELETE TO authenticated USING ({mine})",
    }
    for name, body in policies.items():
        server.sql(f'CREATE POLICY "{tag}_{name}" ON storage.objects {body}')
    yield bucket
    for name in policies:
        server.sql(f'DROP POLICY "{tag}_{name}" ON storage.objects')


def user(server: Server, sub: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.headers(server.token("authenticated", sub=sub)))


def test_writes_follow_policies(server: Server, owned_bucket: str) -> None:
    b = owned_bucket
    alice = user(server, "alice")
    assert alice.post(f"object/{b}/alice/a.txt", content=b"a").status_code == 200
    r = alice.post(f"object/{b}/bob/a.txt", content=b"a")
    assert r.status_code == 400
    assert r.json() == {"statusCode": "403", "error": "Unauthorized", "message": RLS_DENIED, "code": "AccessDenied"}
    r = alice.post(f"object/{b}/bob/f.txt", files={"file": ("f.txt", b"form", "text/plain")})
    assert r.json()["message"] == RLS_DENIED
    # upsert needs the UPDATE policy too, which alice has for her own rows
    assert alice.put(f"object/{b}/alice/a.txt", content=b"a2").status_code == 200
    assert alice.get(f"object/{b}/alice/a.txt").content == b"a2"
    assert not server.sql("SELECT 1 FROM storage.objects WHERE bucket_id = $1 AND name LIKE 'bob/%'", b)


def test_reads_hidden_rows_are_not_found(server: Server, owned_bucket: str) -> None:
    b = owned_bucket
    alice, bob = user(server, "alice"), user(server, "bob")
    alice.post(f"object/{b}/alice/secret.txt", content=b"s")
    bob.post(f"object/{b}/bob/mine.txt", content=b"m")
    for path in (f"object/{b}/alice/secret.txt", f"object/authenticated/{b}/alice/secret.txt",
                 f"object/info/{b}/alice/secret.txt", f"object/info/authenticated/{b}/alice/secret.txt"):
        r = bob.get(path)
        assert r.status_code == 400 and r.json()["code"] == "NoSuchKey", path
    assert bob.head(f"object/{b}/alice/secret.txt").status_code == 400
    assert alice.get(f"object/{b}/alice/secret.txt").content == b"s"
    # anon (no token) cannot see a private bucket at all
    assert httpx.get(server.url + f"object/{b}/alice/secret.txt").json()["code"] == "NoSuchBucket"
    assert [o["name"] for o in bob.post(f"object/list-v2/{b}", json={}).json()["objects"]] == ["bob/mine.txt"]
    assert [x["name"] for x in bob.post(f"object/list/{b}", json={"prefix": ""}).json()] == ["bob"]
    assert [x["name"] for x in alice.post(f"object/list/{b}", json={"prefix": "alice"}).json()] == ["secret.txt"]


def test_move_copy_delete_follow_policies(server: Server, owned_bucket: str) -> None:
    b = owned_bucket
    alice, bob = user(server, "alice"), user(server, "bob")
    alice.post(f"object/{b}/alice/doc.txt", content=b"d")
    r = bob.post("object/move", json={"bucketId": b, "sourceKey": "alice/doc.txt", "destinationKey": "bob/doc.txt"})
    assert r.json()["code"] == "NoSuchKey"
    r = alice.post("object/move", json={"bucketId": b, "sourceKey": "alice/doc.txt", "destinationKey": "bob/d.txt"})
    assert r.json()["code"] == "AccessDenied" and r.json()["message"] == RLS_DENIED
    r = alice.post("object/move", json={"bucketId": b, "sourceKey": "alice/doc.txt", "destinationKey": "alice/x.txt"})
    assert r.json() == {"message": "Successfully moved"}
    r = bob.post("object/copy", json={"bucketId": b, "sourceKey": "alice/x.txt", "destinationKey": "bob/x.txt"})
    assert r.json()["code"] == "NoSuchKey"
    r = alice.post("object/copy", json={"bucketId": b, "sourceKey": "alice/x.txt", "destinationKey": "bob/x.txt"})
    assert r.json()["message"] == RLS_DENIED
    assert alice.post("object/copy", json={"bucketId": b, "sourceKey": "alice/x.txt",
                                           "destinationKey": "alice/y.txt"}).status_code == 200
    # bob cannot see alice's object: deleting it answers as for a missing one (no existence leak)
    r = bob.delete(f"object/{b}/alice/x.txt")
    assert r.json() == {"statusCode": "404", "error": "not_found", "message": "Object not found",
                        "code": "NoSuchKey"}
    assert bob.request("DELETE", f"object/{b}", json={"prefixes": ["alice/x.txt", "alice/y.txt"]}).json() == []
    deleted = alice.request("DELETE", f"object/{b}", json={"prefixes": ["alice/x.txt", "alice/y.txt"]}).json()
    assert sorted(d["name"] for d in deleted) == ["alice/x.txt", "alice/y.txt"]
    assert deleted[0]["owner_id"] == "alice"


def test_signed_urls_follow_policies(server: Server, owned_bucket: str) -> None:
    b = owned_bucket
    alice, bob = user(server, "alice"), user(server, "bob")
    alice.post(f"object/{b}/alice/pic.png", content=b"p")
    assert bob.post(f"object/sign/{b}/alice/pic.png", json={"expiresIn": 60}).json()["code"] == "NoSuchKey"
    items = bob.post(f"object/sign/{b}", json={"expiresIn": 60, "paths": ["alice/pic.png"]}).json()
    assert items[0]["signedURL"] is None and items[0]["error"]
    url = alice.post(f"object/sign/{b}/alice/pic.png", json={"expiresIn": 60}).json()["signedURL"]
    assert httpx.get(server.url + url[1:]).content == b"p"  # the token stands in for the policy
    r = bob.post(f"object/upload/sign/{b}/alice/new.png")
    assert r.json()["message"] == RLS_DENIED
    token = bob.post(f"object/upload/sign/{b}/bob/new.png").json()["token"]
    r = httpx.put(server.url + f"object/upload/sign/{b}/bob/new.png", params={"token": token}, content=b"n")
    assert r.status_code == 200
    assert server.sql("SELECT owner_id FROM storage.objects WHERE bucket_id = $1 AND name = 'bob/new.png'",
                      b) == [{"owner_id": "bob"}]
