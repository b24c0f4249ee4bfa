"""boto3, part 3: who may do what. Canned ACLs, unsigned (anonymous) access, users'
own keys under RLS, SigV2 (`signature_version='s3'`) and browser form uploads (POST
Object with a presigned policy)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx

from conformance.clients.boto3_checks import C, expect_error, s3
from conformance.clients.common import md5_hex, payload, s3_bucket
from conformance.runner import Context, Skip, check, ensure, equal

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
MiB = 1024 * 1024


def anonymous(ctx: Context) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    t = ctx.target
    return ctx.once("boto3-anonymous", lambda: boto3.client(
        "s3", endpoint_url=t.s3_url, region_name=t.region,
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": t.addressing_style},
                      retries={"max_attempts": 2, "mode": "standard"})))


def v2(ctx: Context) -> Any:
    t = ctx.target
    return ctx.once("boto3-sigv2", lambda: keyed(ctx, t.access_key or "", t.secret_key or "", version="s3"))


def public_bucket(ctx: Context) -> str:
    b = s3_bucket(ctx, "pub")
    s3(ctx).put_bucket_acl(Bucket=b, ACL="public-read")
    s3(ctx).put_object(Bucket=b, Key="dir/hello.txt", Body=b"hello", ContentType="text/plain")
    return b


# --- canned ACLs and anonymous access -------------------------------------------------------


@check(C, "acl: public-read bucket readable anonymously (get, head, list)")
def _(ctx: Context) -> None:
    b = public_bucket(ctx)
    anon = anonymous(ctx)
    equal(anon.get_object(Bucket=b, Key="dir/hello.txt")["Body"].read(), b"hello", "anonymous get_object")
    equal(anon.head_object(Bucket=b, Key="dir/hello.txt")["ContentLength"], 5, "anonymous head_object")
    equal([o["Key"] for o in anon.list_objects_v2(Bucket=b)["Contents"]], ["dir/hello.txt"], "anonymous list v2")
    equal([o["Key"] for o in anon.list_objects(Bucket=b)["Contents"]], ["dir/hello.txt"], "anonymous list v1")
    expect_error(lambda: anon.get_object(Bucket=b, Key="missing"), 404, ("NoSuchKey",), "anonymous missing key")


@check(C, "acl: anonymous writes to a public-read bucket are AccessDenied")
def _(ctx: Context) -> None:
    b = public_bucket(ctx)
    anon = anonymous(ctx)
    expect_error(lambda: anon.put_object(Bucket=b, Key="x", Body=b"x"), 403, ("AccessDenied",), "anonymous put")
    expect_error(lambda: anon.delete_object(Bucket=b, Key="dir/hello.txt"), 403, ("AccessDenied",),
                 "anonymous delete")
    expect_error(lambda: anon.get_bucket_acl(Bucket=b), 403, ("AccessDenied",), "anonymous get_bucket_acl")
    equal(s3(ctx).get_object(Bucket=b, Key="dir/hello.txt")["Body"].read(), b"hello", "object intact")


@check(C, "acl: anonymous reads of a private bucket are AccessDenied, of a missing one NoSuchBucket")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx, "priv")
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"secret")
    anon = anonymous(ctx)
    expect_error(lambda: anon.get_object(Bucket=b, Key="k"), 403, ("AccessDenied",), "private get_object")
    expect_error(lambda: anon.get_object(Bucket=b, Key="missing"), 403, ("AccessDenied",), "private missing key")
    expect_error(lambda: anon.list_objects_v2(Bucket=b), 403, ("AccessDenied",), "private list")
    expect_error(lambda: anon.list_objects_v2(Bucket=ctx.name("missing")), 404, ("NoSuchBucket",), "missing bucket")
    expect_error(lambda: anon.list_buckets(), 403, ("AccessDenied",), "anonymous list_buckets")


@check(C, "acl: put_bucket_acl public-read / private toggles anonymous access, get_bucket_acl shows it")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx, "toggle")
    s3(ctx).put_object(Bucket=b, Key="k", Body=b"v")
    anon = anonymous(ctx)
    expect_error(lambda: anon.get_object(Bucket=b, Key="k"), 403, ("AccessDenied",), "before")
    s3(ctx).put_bucket_acl(Bucket=b, ACL="public-read")
    grants = s3(ctx).get_bucket_acl(Bucket=b)["Grants"]
    ensure(any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants),
           f"AllUsers READ in {grants}")
    equal(anon.get_object(Bucket=b, Key="k")["Body"].read(), b"v", "public read")
    s3(ctx).put_bucket_acl(Bucket=b, ACL="private")
    expect_error(lambda: anon.get_object(Bucket=b, Key="k"), 403, ("AccessDenied",), "private again")


@check(C, "acl: get_bucket_acl owner is the ListBuckets owner, with FULL_CONTROL")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    acl = s3(ctx).get_bucket_acl(Bucket=b)
    owner = s3(ctx).list_buckets()["Owner"]["ID"]
    equal(acl["Owner"]["ID"], owner, "owner id")
    equal([(g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"]], [(owner, "FULL_CONTROL")], "grants")


@check(C, "acl: public-read-write and explicit grants are refused with AccessControlListNotSupported")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    codes = ("AccessControlListNotSupported",)
    expect_error(lambda: s3(ctx).put_bucket_acl(Bucket=b, ACL="public-read-write"), 400, codes, "public-read-write")
    expect_error(lambda: s3(ctx).put_bucket_acl(Bucket=b, GrantRead=f"uri={ALL_USERS}"), 400, codes, "grant header")
    expect_error(lambda: s3(ctx).create_bucket(Bucket=ctx.name("rw"), ACL="public-read-write"), 400, codes,
                 "create_bucket public-read-write")


@check(C, "acl: object ACLs follow the bucket; put_object_acl accepts only the bucket's")
def _(ctx: Context) -> None:
    b = public_bucket(ctx)
    grants = s3(ctx).get_object_acl(Bucket=b, Key="dir/hello.txt")["Grants"]
    ensure(any(g["Grantee"].get("URI") == ALL_USERS for g in grants), f"AllUsers READ in {grants}")
    s3(ctx).put_object_acl(Bucket=b, Key="dir/hello.txt", ACL="public-read")
    expect_error(lambda: s3(ctx).put_object_acl(Bucket=b, Key="dir/hello.txt", ACL="private"), 400,
                 ("AccessControlListNotSupported",), "a private object in a public bucket")


# --- users' own keys ---------------------------------------------------------------------------


def own_folder_users(ctx: Context, bucket: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """Two users with keys of their own and an own-folder policy on `bucket` (docs/rls.md)."""
    t = ctx.target
    if t.admin_sql is None or t.make_user_key is None:
        raise Skip("needs the operator hooks (SQL and `s3proxy keys create`): self-started targets only")
    tag = uuid.uuid4().hex[:8]
    check_sql = f"bucket_id = '{bucket}' AND (storage.foldername(name))[1] = auth.uid()::text"
    for action, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK"), ("UPDATE", "USING"),
                           ("DELETE", "USING")):
        t.admin_sql(f'CREATE POLICY "cf_{tag}_{action}" ON storage.objects FOR {action} TO authenticated '
                    f"{clause} ({check_sql})")
        ctx.defer(t.admin_sql, f'DROP POLICY "cf_{tag}_{action}" ON storage.objects')
    users = []
    for _ in range(2):
        sub = str(uuid.uuid4())
        key_id, secret = t.make_user_key(sub)
        users.append((sub, keyed(ctx, key_id, secret)))
    return users[0], users[1]


def keyed(ctx: Context, key_id: str, secret: str, version: str = "s3v4") -> Any:
    """A boto3 client with other credentials than the target's."""
    import boto3
    from botocore.config import Config

    t = ctx.target
    return boto3.client("s3", endpoint_url=t.s3_url, region_name=t.region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=Config(signature_version=version, s3={"addressing_style": t.addressing_style},
                                      retries={"max_attempts": 1}))


@check(C, "identities: user key reads its own folder, denied other folder; admin key alongside")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx, "ident")
    (alice_id, alice), (bob_id, bob) = own_folder_users(ctx, b)
    s3(ctx).put_object(Bucket=b, Key="admin/file", Body=b"admin")
    alice.put_object(Bucket=b, Key=f"{alice_id}/a", Body=b"alice")
    bob.put_object(Bucket=b, Key=f"{bob_id}/b", Body=b"bob")
    equal(alice.get_object(Bucket=b, Key=f"{alice_id}/a")["Body"].read(), b"alice", "own folder")
    expect_error(lambda: alice.get_object(Bucket=b, Key=f"{bob_id}/b"), 404, ("NoSuchKey",), "other user's folder")
    expect_error(lambda: alice.put_object(Bucket=b, Key=f"{bob_id}/x", Body=b"x"), 403, ("AccessDenied",),
                 "write into another user's folder")
    equal([o["Key"] for o in alice.list_objects_v2(Bucket=b).get("Contents", [])], [f"{alice_id}/a"],
          "alice's listing")
    equal(sorted(o["Key"] for o in s3(ctx).list_objects_v2(Bucket=b)["Contents"]),
          sorted([f"{alice_id}/a", f"{bob_id}/b", "admin/file"]), "the admin key sees everything")


# --- SigV2 ----------------------------------------------------------------------------------------


@check(C, "sigv2: presigned GET (HmacV1QueryAuth) downloads with plain HTTP")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    s3(ctx).put_object(Bucket=b, Key="p", Body=b"presigned v2")
    url = v2(ctx).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p"}, ExpiresIn=300)
    ensure("AWSAccessKeyId=" in url, f"a SigV2 URL: {url}")
    r = httpx.get(url, timeout=30)
    equal((r.status_code, r.content), (200, b"presigned v2"), "GET")


@check(C, "sigv2: presigned PUT with a signed Content-Type uploads")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    url = v2(ctx).generate_presigned_url("put_object", Params={"Bucket": b, "Key": "u", "ContentType": "text/x-v2"},
                                         ExpiresIn=300)
    r = httpx.put(url, content=b"up", headers={"Content-Type": "text/x-v2"}, timeout=30)
    equal(r.status_code, 200, f"PUT: {r.text[:200]}")
    got = s3(ctx).get_object(Bucket=b, Key="u")
    equal((got["Body"].read(), got["ContentType"]), (b"up", "text/x-v2"), "stored")


@check(C, "sigv2: header-signed put, get, head, list, delete")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    data = payload(100_000, "v2")
    equal(v2(ctx).put_object(Bucket=b, Key="k", Body=data)["ETag"], f'"{md5_hex(data)}"', "ETag")
    equal(v2(ctx).head_object(Bucket=b, Key="k")["ContentLength"], len(data), "head")
    equal(v2(ctx).get_object(Bucket=b, Key="k")["Body"].read(), data, "get")
    equal([o["Key"] for o in v2(ctx).list_objects(Bucket=b)["Contents"]], ["k"], "list")
    v2(ctx).delete_object(Bucket=b, Key="k")
    equal(s3(ctx).list_objects_v2(Bucket=b).get("KeyCount"), 0, "deleted")


@check(C, "sigv2: multipart upload", timeout=120)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    parts = [payload(5 * MiB, "p1"), payload(1000, "p2")]
    up = v2(ctx).create_multipart_upload(Bucket=b, Key="mp")
    etags = [v2(ctx).upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=i + 1, Body=d)["ETag"]
             for i, d in enumerate(parts)]
    v2(ctx).complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    equal(hashlib.sha256(s3(ctx).get_object(Bucket=b, Key="mp")["Body"].read()).hexdigest(),
          hashlib.sha256(b"".join(parts)).hexdigest(), "assembled object")


@check(C, "sigv2: a wrong secret is SignatureDoesNotMatch")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    t = ctx.target
    wrong = keyed(ctx, t.access_key or "", (t.secret_key or "") + "x", version="s3")
    expect_error(lambda: wrong.list_objects(Bucket=b), 403, ("SignatureDoesNotMatch",), "wrong secret")


# --- browser form uploads ----------------------------------------------------------------------


def form_post(post: dict[str, Any], data: bytes, **extra: str) -> httpx.Response:
    return httpx.post(post["url"], data={**post["fields"], **extra}, files={"file": ("f.txt", data, "text/plain")},
                      timeout=60)


@check(C, "post: presigned POST upload (generate_presigned_post) stores the object with its fields")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    post = s3(ctx).generate_presigned_post(
        b, "uploads/${filename}", Fields={"Content-Type": "text/plain", "x-amz-meta-tag": "t1",
                                          "success_action_status": "201"},
        Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-tag": "t1"}, {"success_action_status": "201"},
                    ["content-length-range", 1, 1024]], ExpiresIn=300)
    r = form_post(post, b"form data")
    equal(r.status_code, 201, f"status: {r.text[:300]}")
    ensure("<Key>uploads/f.txt</Key>" in r.text, f"PostResponse names the key: {r.text[:300]}")
    got = s3(ctx).get_object(Bucket=b, Key="uploads/f.txt")
    equal((got["Body"].read(), got["ContentType"], got["Metadata"]), (b"form data", "text/plain", {"tag": "t1"}),
          "stored object")


@check(C, "post: content-length-range and conditions are enforced, nothing stored")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    post = s3(ctx).generate_presigned_post(b, "k", Fields={"Content-Type": "text/plain"},
                                           Conditions=[{"Content-Type": "text/plain"},
                                                       ["content-length-range", 1, 10]], ExpiresIn=300)
    r = form_post(post, b"x" * 11)
    ensure(r.status_code in (400, 413) and "EntityTooLarge" in r.text, f"too large: {r.status_code} {r.text[:200]}")
    r = form_post(post, b"x", **{"Content-Type": "text/html"})
    equal(r.status_code, 403, f"a field against its condition: {r.text[:200]}")
    equal(s3(ctx).list_objects_v2(Bucket=b).get("KeyCount"), 0, "nothing stored")


@check(C, "post: success_action_redirect answers 303 with bucket, key and etag")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    target = "https://example.invalid/done"
    post = s3(ctx).generate_presigned_post(b, "r", Fields={"success_action_redirect": target},
                                           Conditions=[{"success_action_redirect": target}], ExpiresIn=300)
    r = form_post(post, b"redirect me")
    equal(r.status_code, 303, f"status: {r.text[:200]}")
    location = r.headers.get("location", "")
    ensure(location.startswith(target + "?") and "key=r" in location and f"bucket={b}" in location
           and md5_hex(b"redirect me") in location, f"Location: {location}")
