"""aws-cli (from PyPI), driven as a subprocess: high-level `aws s3` and `aws s3api`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from conformance.clients.common import (
    PAGED_COUNT,
    UNICODE_KEY,
    md5_hex,
    paged_s3_bucket,
    payload,
    s3_bucket,
)
from conformance.runner import CheckFailed, Context, Skip, check, ensure, equal, requirement
from conformance.target import Target

C = "aws-cli"
MiB = 1024 * 1024


def aws_binary() -> str | None:
    local = Path(sys.executable).parent / "aws"
    return str(local) if local.exists() else shutil.which("aws")


@requirement(C)
def _needs(target: Target) -> str | None:
    if aws_binary() is None:
        return "aws-cli not installed"
    return None if target.has_s3 else "no S3 endpoint configured"


def env(ctx: Context) -> dict[str, str]:
    def build() -> dict[str, str]:
        t = ctx.target
        cfg = ctx.path("aws-config")
        cfg.write_text(f"[default]\nregion = {t.region}\ns3 =\n    addressing_style = {t.addressing_style}\n    signature_version = s3v4\n"
                       "    multipart_threshold = 8MB\n    multipart_chunksize = 5MB\n")
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e.update(AWS_ACCESS_KEY_ID=t.access_key or "", AWS_SECRET_ACCESS_KEY=t.secret_key or "",
                 AWS_DEFAULT_REGION=t.region, AWS_CONFIG_FILE=str(cfg),
                 AWS_SHARED_CREDENTIALS_FILE=str(ctx.path("aws-credentials")),
                 AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="", PYTHONWARNINGS="ignore")
        return e

    return dict(ctx.once("aws-env", build))


def aws(ctx: Context, *args: str, ok: bool = True, stdin: bytes | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `aws --endpoint-url … <args>`; with ok=True a non-zero exit fails the check."""
    cmd = [aws_binary() or "aws", "--endpoint-url", ctx.target.s3_url or "", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=170,
                          env={**env(ctx), **(extra_env or {})}, cwd=ctx.workdir)
    if ok and proc.returncode != 0:
        raise CheckFailed(f"aws {' '.join(args[:3])} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return proc


def api(ctx: Context, *args: str) -> Any:
    out = aws(ctx, "s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else {}


def fails_with(ctx: Context, needle: str, *args: str) -> None:
    proc = aws(ctx, *args, ok=False)
    ensure(proc.returncode != 0, f"aws {' '.join(args[:3])} should fail")
    err = proc.stderr.decode()
    ensure(needle in err, f"stderr mentions {needle!r}: {err[-300:]}")


# --- buckets ----------------------------------------------------------------------------


@check(C, "buckets: s3 mb creates a bucket that s3 ls lists")
def _(ctx: Context) -> None:
    b = ctx.name("mb")
    aws(ctx, "s3", "mb", f"s3://{b}")
    ctx.defer(aws, ctx, "s3", "rb", f"s3://{b}", "--force", ok=False)
    ensure(b in aws(ctx, "s3", "ls").stdout.decode(), "bucket listed by s3 ls")


@check(C, "buckets: s3api list-buckets JSON includes the bucket")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    ensure(b in [x["Name"] for x in api(ctx, "list-buckets")["Buckets"]], "bucket in list-buckets")


@check(C, "buckets: s3api head-bucket on a missing bucket fails with 404")
def _(ctx: Context) -> None:
    fails_with(ctx, "404", "s3api", "head-bucket", "--bucket", ctx.name("missing"))


@check(C, "buckets: s3 rb refuses a non-empty bucket")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/k", stdin=b"x")
    ensure(aws(ctx, "s3", "rb", f"s3://{b}", ok=False).returncode != 0, "rb fails")
    equal(aws(ctx, "s3", "cp", f"s3://{b}/k", "-").stdout, b"x", "object still there")


@check(C, "buckets: s3 rb --force removes a bucket and its objects")
def _(ctx: Context) -> None:
    b = ctx.name("rb")
    aws(ctx, "s3", "mb", f"s3://{b}")
    for k in ("a", "d/b", "d/c"):
        aws(ctx, "s3", "cp", "-", f"s3://{b}/{k}", stdin=b"x")
    aws(ctx, "s3", "rb", f"s3://{b}", "--force")
    ensure(b not in aws(ctx, "s3", "ls").stdout.decode(), "bucket gone")


@check(C, "errors: s3 ls of a missing bucket fails with NoSuchBucket")
def _(ctx: Context) -> None:
    fails_with(ctx, "NoSuchBucket", "s3", "ls", f"s3://{ctx.name('missing')}")


# --- uploads / downloads ----------------------------------------------------------------


def cp_round_trip(ctx: Context, key: str, data: bytes) -> None:
    b = s3_bucket(ctx)
    src = ctx.file("src.bin", data)
    aws(ctx, "s3", "cp", str(src), f"s3://{b}/{key}")
    dst = ctx.path("dst.bin")
    aws(ctx, "s3", "cp", f"s3://{b}/{key}", str(dst))
    ensure(dst.read_bytes() == data, f"downloaded bytes of {key!r} equal")


@check(C, "uploads: s3 cp of a small file round-trips")
def _(ctx: Context) -> None:
    cp_round_trip(ctx, "small.txt", b"hello from aws-cli")


@check(C, "uploads: s3 cp of an empty file round-trips")
def _(ctx: Context) -> None:
    cp_round_trip(ctx, "empty", b"")


@check(C, "uploads: s3 cp with a unicode key round-trips")
def _(ctx: Context) -> None:
    cp_round_trip(ctx, UNICODE_KEY, b"unicode")


@check(C, "uploads: s3 cp of 20 MiB (multipart) round-trips", timeout=240)
def _(ctx: Context) -> None:
    cp_round_trip(ctx, "big/twenty.bin", payload(20 * MiB, "aws"))


@check(C, "uploads: s3 cp from stdin (unknown length) stores the stream", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    data = payload(9 * MiB, "stdin")
    aws(ctx, "s3", "cp", "-", f"s3://{b}/stream.bin", stdin=data)
    ensure(aws(ctx, "s3", "cp", f"s3://{b}/stream.bin", "-").stdout == data, "bytes equal")


@check(C, "metadata: s3 cp --content-type and --metadata are visible to head-object")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    src = ctx.file("m.csv", b"a,b\n")
    aws(ctx, "s3", "cp", str(src), f"s3://{b}/m.csv", "--content-type", "text/csv", "--metadata", "k1=v1,k2=v2",
        "--cache-control", "max-age=60")
    head = api(ctx, "head-object", "--bucket", b, "--key", "m.csv")
    equal(head["ContentType"], "text/csv", "ContentType")
    equal(head["Metadata"], {"k1": "v1", "k2": "v2"}, "Metadata")
    equal(head.get("CacheControl"), "max-age=60", "CacheControl")


@check(C, "metadata: s3api put-object --metadata round-trips through get-object")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    src = ctx.file("body", b"body")
    put = api(ctx, "put-object", "--bucket", b, "--key", "k", "--body", str(src), "--metadata", "colour=green")
    equal(put["ETag"].strip('"'), md5_hex(b"body"), "ETag")
    got = api(ctx, "get-object", "--bucket", b, "--key", "k", str(ctx.path("out")))
    equal(got["Metadata"], {"colour": "green"}, "Metadata")
    equal(ctx.path("out").read_bytes(), b"body", "bytes")


@check(C, "downloads: s3api get-object --range returns the slice")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/r", stdin=b"0123456789")
    got = api(ctx, "get-object", "--bucket", b, "--key", "r", "--range", "bytes=3-6", str(ctx.path("out")))
    equal(ctx.path("out").read_bytes(), b"3456", "bytes")
    equal(got["ContentRange"], "bytes 3-6/10", "ContentRange")


@check(C, "downloads: s3api get-object --if-none-match with the ETag is Not Modified (304)")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/c", stdin=b"cond")
    etag = api(ctx, "head-object", "--bucket", b, "--key", "c")["ETag"]
    fails_with(ctx, "304", "s3api", "get-object", "--bucket", b, "--key", "c", "--if-none-match", etag,
               str(ctx.path("out")))


@check(C, "errors: s3api get-object on a missing key fails with NoSuchKey")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    fails_with(ctx, "NoSuchKey", "s3api", "get-object", "--bucket", b, "--key", "none", str(ctx.path("o")))


@check(C, "errors: wrong credentials fail with SignatureDoesNotMatch")
def _(ctx: Context) -> None:
    proc = aws(ctx, "s3", "ls", ok=False, extra_env={"AWS_SECRET_ACCESS_KEY": "wrong-secret-000000000000"})
    ensure(proc.returncode != 0, "fails")
    ensure(b"SignatureDoesNotMatch" in proc.stderr, f"stderr: {proc.stderr.decode()[-300:]}")


# --- listing ----------------------------------------------------------------------------


def tree(ctx: Context) -> str:
    b = s3_bucket(ctx)
    src = ctx.file("t", b"t")
    for k in ("a.txt", "dir/b.txt", "dir/sub/c.txt"):
        aws(ctx, "s3", "cp", str(src), f"s3://{b}/{k}", "--quiet")
    return b


@check(C, "listing: s3 ls shows PRE folders and objects at one level")
def _(ctx: Context) -> None:
    b = tree(ctx)
    out = aws(ctx, "s3", "ls", f"s3://{b}/").stdout.decode()
    ensure("PRE dir/" in out, f"PRE dir/ in {out!r}")
    ensure("a.txt" in out and "b.txt" not in out, f"only top-level objects: {out!r}")


@check(C, "listing: s3 ls --recursive lists every key of a >1000-key bucket", timeout=240)
def _(ctx: Context) -> None:
    b = paged_s3_bucket(ctx)
    lines = [ln for ln in aws(ctx, "s3", "ls", f"s3://{b}", "--recursive").stdout.decode().splitlines() if ln.strip()]
    equal(len(lines), PAGED_COUNT, "line count")


@check(C, "listing: s3api list-objects-v2 --delimiter returns CommonPrefixes")
def _(ctx: Context) -> None:
    b = tree(ctx)
    out = api(ctx, "list-objects-v2", "--bucket", b, "--delimiter", "/", "--prefix", "dir/")
    equal([o["Key"] for o in out.get("Contents", [])], ["dir/b.txt"], "Contents")
    equal([p["Prefix"] for p in out.get("CommonPrefixes", [])], ["dir/sub/"], "CommonPrefixes")


@check(C, "listing: s3api list-objects-v2 --max-items/--page-size paginate with NextToken")
def _(ctx: Context) -> None:
    b = tree(ctx)
    first = api(ctx, "list-objects-v2", "--bucket", b, "--max-items", "2", "--page-size", "1")
    equal([o["Key"] for o in first["Contents"]], ["a.txt", "dir/b.txt"], "first page")
    ensure(first.get("NextToken"), "NextToken present")
    rest = api(ctx, "list-objects-v2", "--bucket", b, "--starting-token", first["NextToken"])
    equal([o["Key"] for o in rest["Contents"]], ["dir/sub/c.txt"], "rest")


# --- sync, copy, move, delete -----------------------------------------------------------


def local_tree(ctx: Context, name: str) -> Path:
    root = ctx.path(name)
    for rel, data in {"one.txt": b"1", "two/three.txt": b"3", "two/four/five.bin": payload(3000)}.items():
        ctx.file(f"{name}/{rel}", data)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@check(C, "sync: s3 sync up then down reproduces the directory tree")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    src = local_tree(ctx, "up")
    aws(ctx, "s3", "sync", str(src), f"s3://{b}/tree/")
    aws(ctx, "s3", "sync", f"s3://{b}/tree/", str(ctx.path("down")))
    equal(files_of(ctx.path("down")), files_of(src), "tree")


@check(C, "sync: a second s3 sync of an unchanged tree transfers nothing")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    src = local_tree(ctx, "up")
    aws(ctx, "s3", "sync", str(src), f"s3://{b}/tree/")
    again = aws(ctx, "s3", "sync", str(src), f"s3://{b}/tree/").stdout.decode()
    equal(again.strip(), "", "second sync output")


@check(C, "copy: s3 cp between keys copies server-side")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/src", stdin=b"copy")
    aws(ctx, "s3", "cp", f"s3://{b}/src", f"s3://{b}/dst")
    equal(aws(ctx, "s3", "cp", f"s3://{b}/dst", "-").stdout, b"copy", "copy")


@check(C, "copy: s3api copy-object with --metadata-directive REPLACE")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    src = ctx.file("s", b"copy")
    aws(ctx, "s3", "cp", str(src), f"s3://{b}/src", "--metadata", "a=1")
    api(ctx, "copy-object", "--bucket", b, "--key", "dst", "--copy-source", f"{b}/src",
        "--metadata-directive", "REPLACE", "--metadata", "b=2", "--content-type", "text/x-new")
    head = api(ctx, "head-object", "--bucket", b, "--key", "dst")
    equal(head["Metadata"], {"b": "2"}, "Metadata")
    equal(head["ContentType"], "text/x-new", "ContentType")


@check(C, "move: s3 mv moves a key (source gone, destination present)")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/from", stdin=b"moving")
    aws(ctx, "s3", "mv", f"s3://{b}/from", f"s3://{b}/to")
    equal(aws(ctx, "s3", "cp", f"s3://{b}/to", "-").stdout, b"moving", "destination")
    ensure(aws(ctx, "s3", "cp", f"s3://{b}/from", "-", ok=False).returncode != 0, "source gone")


@check(C, "delete: s3 rm removes one key")
def _(ctx: Context) -> None:
    b = tree(ctx)
    aws(ctx, "s3", "rm", f"s3://{b}/a.txt")
    ensure("a.txt" not in aws(ctx, "s3", "ls", f"s3://{b}", "--recursive").stdout.decode(), "a.txt gone")


@check(C, "delete: s3 rm --recursive removes a prefix")
def _(ctx: Context) -> None:
    b = tree(ctx)
    aws(ctx, "s3", "rm", f"s3://{b}/dir/", "--recursive")
    out = aws(ctx, "s3", "ls", f"s3://{b}", "--recursive").stdout.decode()
    ensure("dir/" not in out and "a.txt" in out, f"only a.txt left: {out!r}")


@check(C, "delete: s3api delete-objects deletes a batch")
def _(ctx: Context) -> None:
    b = tree(ctx)
    spec = json.dumps({"Objects": [{"Key": "a.txt"}, {"Key": "dir/b.txt"}]})
    out = api(ctx, "delete-objects", "--bucket", b, "--delete", spec)
    equal(sorted(d["Key"] for d in out.get("Deleted", [])), ["a.txt", "dir/b.txt"], "Deleted")
    equal([o["Key"] for o in api(ctx, "list-objects-v2", "--bucket", b).get("Contents", [])], ["dir/sub/c.txt"], "left")


# --- multipart, tagging, presign --------------------------------------------------------


@check(C, "multipart: s3api create-multipart-upload / upload-part / complete", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    uid = api(ctx, "create-multipart-upload", "--bucket", b, "--key", "mp")["UploadId"]
    p1, p2 = ctx.file("p1", payload(5 * MiB, "a")), ctx.file("p2", b"tail")
    e1 = api(ctx, "upload-part", "--bucket", b, "--key", "mp", "--upload-id", uid, "--part-number", "1", "--body", str(p1))
    e2 = api(ctx, "upload-part", "--bucket", b, "--key", "mp", "--upload-id", uid, "--part-number", "2", "--body", str(p2))
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1["ETag"]}, {"PartNumber": 2, "ETag": e2["ETag"]}]}
    api(ctx, "complete-multipart-upload", "--bucket", b, "--key", "mp", "--upload-id", uid,
        "--multipart-upload", json.dumps(parts))
    data = aws(ctx, "s3", "cp", f"s3://{b}/mp", "-").stdout
    ensure(data == p1.read_bytes() + b"tail", "bytes are the parts in order")


@check(C, "tagging: s3api put-object-tagging / get-object-tagging round-trip")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/t", stdin=b"t")
    api(ctx, "put-object-tagging", "--bucket", b, "--key", "t", "--tagging", json.dumps({"TagSet": [{"Key": "k", "Value": "v"}]}))
    equal(api(ctx, "get-object-tagging", "--bucket", b, "--key", "t")["TagSet"], [{"Key": "k", "Value": "v"}], "TagSet")


@check(C, "signed URLs: s3 presign gives a URL that downloads with plain HTTP")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/p.txt", stdin=b"presigned")
    url = aws(ctx, "s3", "presign", f"s3://{b}/p.txt", "--expires-in", "300").stdout.decode().strip()
    r = httpx.get(url, timeout=30)
    equal((r.status_code, r.content), (200, b"presigned"), "GET presigned URL")


# --- the edges AWS answers in its own way (issue 16) ------------------------------------


@check(C, "buckets: s3 rb removes a bucket left with an unfinished multipart upload")
def _(ctx: Context) -> None:
    b = ctx.name("rbmp")
    aws(ctx, "s3", "mb", f"s3://{b}")
    ctx.defer(aws, ctx, "s3", "rb", f"s3://{b}", "--force", ok=False)
    api(ctx, "create-multipart-upload", "--bucket", b, "--key", "left/behind")
    aws(ctx, "s3", "rb", f"s3://{b}")
    ensure(b not in aws(ctx, "s3", "ls").stdout.decode(), "bucket gone")


@check(C, "buckets: s3api create-bucket of your own bucket again answers by AWS's region rule")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    again = aws(ctx, "s3api", "create-bucket", "--bucket", b, ok=False)
    if ctx.target.region == "us-east-1":
        equal(again.returncode, 0, f"exit status: {again.stderr.decode()[-200:]}")
    else:
        ensure(b"BucketAlreadyOwnedByYou" in again.stderr, f"stderr: {again.stderr.decode()[-200:]}")


def sha256_upload(ctx: Context, b: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    created = api(ctx, "create-multipart-upload", "--bucket", b, "--key", key, "--checksum-algorithm", "SHA256")
    equal((created.get("ChecksumAlgorithm"), created.get("ChecksumType")), ("SHA256", "COMPOSITE"), "echoed")
    parts = []
    for number, data in enumerate((payload(5 * MiB, "cli-1"), b"tail"), start=1):
        path = ctx.file(f"{key}-{number}", data)
        sent = api(ctx, "upload-part", "--bucket", b, "--key", key, "--upload-id", created["UploadId"],
                   "--part-number", str(number), "--body", str(path), "--checksum-algorithm", "SHA256")
        parts.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": sent["ChecksumSHA256"]})
    return created["UploadId"], parts


@check(C, "multipart: create-multipart-upload --checksum-algorithm echoes it; a repeated complete answers the same",
       timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = sha256_upload(ctx, b, "twice")
    listing = ctx.file("parts.json", json.dumps({"Parts": parts}).encode())
    complete = ("complete-multipart-upload", "--bucket", b, "--key", "twice", "--upload-id", upload_id,
                "--multipart-upload", f"file://{listing}")
    first = api(ctx, *complete)
    equal(first.get("ChecksumType"), "COMPOSITE", "ChecksumType")
    ensure(str(first.get("ChecksumSHA256", "")).endswith("-2"), f"composite checksum: {first}")
    equal(api(ctx, *complete), first, "second complete")


@check(C, "multipart: get-object --part-number beyond the last part fails with InvalidPartNumber", timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    upload_id, parts = sha256_upload(ctx, b, "two")
    api(ctx, "complete-multipart-upload", "--bucket", b, "--key", "two", "--upload-id", upload_id,
        "--multipart-upload", json.dumps({"Parts": parts}))
    fails_with(ctx, "InvalidPartNumber", "s3api", "get-object", "--bucket", b, "--key", "two", "--part-number", "3",
               str(ctx.path("out")))


@check(C, "checksums: s3 cp of 12 MiB stores a composite CRC32 that head-object --checksum-mode shows",
       timeout=180)
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", str(ctx.file("big.bin", payload(12 * MiB, "cli-crc"))), f"s3://{b}/big.bin")
    head = api(ctx, "head-object", "--bucket", b, "--key", "big.bin", "--checksum-mode", "ENABLED")
    equal(head.get("ChecksumType"), "COMPOSITE", "ChecksumType")
    ensure(str(head.get("ChecksumCRC32", "")).endswith("-3"), f"ChecksumCRC32: {head.get('ChecksumCRC32')!r}")


@check(C, "signed URLs: s3 presign --expires-in beyond a week gives a URL refused with 403")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/p.txt", stdin=b"presigned")
    url = aws(ctx, "s3", "presign", f"s3://{b}/p.txt", "--expires-in", "604801").stdout.decode().strip()
    r = httpx.get(url, timeout=30)
    equal(r.status_code, 403, "status")
    ensure(b"<Code>AccessDenied</Code>" in r.content, f"AccessDenied: {r.text[:200]}")
# --- access: ACLs, anonymous, users' own keys, SigV2 --------------------------------------


def default_config(ctx: Context) -> str:
    """aws-cli's configuration without a signature_version: v1 then presigns with SigV2
    (an explicit `signature_version = s3` makes it sign SigV4, oddly)."""
    t = ctx.target
    cfg = ctx.path("aws-config-default")
    cfg.write_text(f"[default]\nregion = {t.region}\ns3 =\n    addressing_style = {t.addressing_style}\n")
    return str(cfg)


@check(C, "acl: s3api put-bucket-acl public-read, then --no-sign-request lists and downloads")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/pub.txt", stdin=b"public")
    fails_with(ctx, "AccessDenied", "s3", "ls", f"s3://{b}", "--no-sign-request")
    api(ctx, "put-bucket-acl", "--bucket", b, "--acl", "public-read")
    grants = api(ctx, "get-bucket-acl", "--bucket", b)["Grants"]
    ensure(any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants), f"AllUsers in {grants}")
    ensure("pub.txt" in aws(ctx, "s3", "ls", f"s3://{b}", "--no-sign-request").stdout.decode(), "anonymous ls")
    equal(aws(ctx, "s3", "cp", f"s3://{b}/pub.txt", "-", "--no-sign-request").stdout, b"public", "anonymous cp")
    fails_with(ctx, "AccessDenied", "s3", "cp", "-", f"s3://{b}/x", "--no-sign-request")


@check(C, "acl: s3api put-bucket-acl public-read-write fails with AccessControlListNotSupported")
def _(ctx: Context) -> None:
    fails_with(ctx, "AccessControlListNotSupported", "s3api", "put-bucket-acl", "--bucket", s3_bucket(ctx),
               "--acl", "public-read-write")


@check(C, "identities: user key copies into its own folder only")
def _(ctx: Context) -> None:
    t = ctx.target
    if t.admin_sql is None or t.make_user_key is None:
        raise Skip("needs the operator hooks (SQL and `s3proxy keys create`): self-started targets only")
    b = s3_bucket(ctx)
    tag = os.urandom(4).hex()
    own = f"bucket_id = '{b}' AND (storage.foldername(name))[1] = auth.uid()::text"
    for action, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK"), ("UPDATE", "USING")):
        t.admin_sql(f'CREATE POLICY "cfcli_{tag}_{action}" ON storage.objects FOR {action} TO authenticated '
                    f"{clause} ({own})")
        ctx.defer(t.admin_sql, f'DROP POLICY "cfcli_{tag}_{action}" ON storage.objects')
    sub = str(uuid.uuid4())
    key_id, secret = t.make_user_key(sub)
    user = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    aws(ctx, "s3", "cp", "-", f"s3://{b}/{sub}/mine.txt", stdin=b"mine", extra_env=user)
    denied = aws(ctx, "s3", "cp", "-", f"s3://{b}/other/theirs.txt", stdin=b"no", ok=False, extra_env=user)
    ensure(denied.returncode != 0 and "AccessDenied" in denied.stderr.decode(), "another folder is denied")
    equal(aws(ctx, "s3", "cp", f"s3://{b}/{sub}/mine.txt", "-", extra_env=user).stdout, b"mine", "read back")


@check(C, "sigv2: s3 presign with aws-cli v1's default signer gives a URL that downloads")
def _(ctx: Context) -> None:
    b = s3_bucket(ctx)
    aws(ctx, "s3", "cp", "-", f"s3://{b}/v2.txt", stdin=b"presigned v2")
    url = aws(ctx, "s3", "presign", f"s3://{b}/v2.txt", extra_env={"AWS_CONFIG_FILE": default_config(ctx)})
    link = url.stdout.decode().strip()
    if "AWSAccessKeyId=" not in link:
        raise Skip("this aws-cli presigns with SigV4 by default (v2): nothing to judge")
    r = httpx.get(link, timeout=30)
    equal((r.status_code, r.content), (200, b"presigned v2"), "GET presigned URL")
