"""rclone (Debian package), configured on the fly through RCLONE_CONFIG_CF_* variables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from email.header import decode_header
from pathlib import Path

import httpx

from conformance.clients.common import (
    PAGED_COUNT,
    UNICODE_KEY,
    md5_hex,
    paged_s3_bucket,
    payload,
    s3_bucket,
    s3_client,
)
from conformance.runner import CheckFailed, Context, check, ensure, equal, requirement
from conformance.target import Target

C = "rclone"
MiB = 1024 * 1024
FLAGS = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1", "--low-level-retries", "2",
         "--contimeout", "10s", "--timeout", "60s"]


@requirement(C)
def _needs(target: Target) -> str | None:
    if shutil.which("rclone") is None:
        return "rclone not installed"
    return None if target.has_s3 else "no S3 endpoint configured"


def rclone(ctx: Context, *args: str, ok: bool = True, stdin: bytes | None = None,
           secret: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run rclone against remote `cf:`; with ok=True a non-zero exit fails the check."""
    t = ctx.target
    conf = ctx.path("rclone.conf")
    if not conf.exists():
        conf.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    env.update(
        RCLONE_CONFIG=str(conf), RCLONE_CONFIG_CF_TYPE="s3", RCLONE_CONFIG_CF_PROVIDER="Other",
        RCLONE_CONFIG_CF_ENV_AUTH="false", RCLONE_CONFIG_CF_ACCESS_KEY_ID=t.access_key or "",
        RCLONE_CONFIG_CF_SECRET_ACCESS_KEY=secret or t.secret_key or "", RCLONE_CONFIG_CF_ENDPOINT=t.s3_url or "",
        RCLONE_CONFIG_CF_REGION=t.region,
        RCLONE_CONFIG_CF_FORCE_PATH_STYLE="true" if t.addressing_style == "path" else "false",
    )
    proc = subprocess.run(["rclone", *args, *FLAGS], input=stdin, capture_output=True, timeout=170, env=env,
                          cwd=ctx.workdir)
    if ok and proc.returncode != 0:
        raise CheckFailed(f"rclone {' '.join(args[:2])} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return proc


def out(ctx: Context, *args: str) -> str:
    return rclone(ctx, *args).stdout.decode()


def bucket(ctx: Context) -> str:
    return s3_bucket(ctx, "rc")


def put(ctx: Context, b: str, key: str, data: bytes) -> None:
    rclone(ctx, "rcat", f"cf:{b}/{key}", stdin=data)


# --- buckets ----------------------------------------------------------------------------


@check(C, "buckets: mkdir creates a bucket that lsd lists")
def _(ctx: Context) -> None:
    b = ctx.name("rcmk")
    rclone(ctx, "mkdir", f"cf:{b}")
    ctx.defer(rclone, ctx, "purge", f"cf:{b}", ok=False)
    ensure(b in out(ctx, "lsd", "cf:"), "bucket listed by lsd")


@check(C, "buckets: rmdir refuses a non-empty bucket")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "k", b"x")
    ensure(rclone(ctx, "rmdir", f"cf:{b}", ok=False).returncode != 0, "rmdir fails")
    equal(rclone(ctx, "cat", f"cf:{b}/k").stdout, b"x", "object kept")


@check(C, "buckets: purge removes a bucket with its contents")
def _(ctx: Context) -> None:
    b = ctx.name("rcpurge")
    rclone(ctx, "mkdir", f"cf:{b}")
    for k in ("a", "d/b", "d/e/c"):
        put(ctx, b, k, b"x")
    rclone(ctx, "purge", f"cf:{b}")
    ensure(b not in out(ctx, "lsd", "cf:"), "bucket gone")


@check(C, "errors: listing a missing bucket fails")
def _(ctx: Context) -> None:
    ensure(rclone(ctx, "lsf", f"cf:{ctx.name('missing')}", ok=False).returncode != 0, "lsf fails")


@check(C, "errors: a missing object stats as absent while an existing one stats as a file")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "some", b"abc")
    equal(out(ctx, "lsjson", "--stat", "--files-only", f"cf:{b}/none").strip(), "null", "missing object")
    ensure('"Size": 3' in out(ctx, "lsjson", "--stat", "--files-only", f"cf:{b}/some"), "existing object, 3 bytes")


@check(C, "errors: a wrong secret key fails")
def _(ctx: Context) -> None:
    ensure(rclone(ctx, "lsd", "cf:", ok=False, secret="wrong-secret-000000000000").returncode != 0, "lsd fails")


# --- uploads / downloads ----------------------------------------------------------------


def copy_round_trip(ctx: Context, key: str, data: bytes) -> None:
    b = bucket(ctx)
    src = ctx.file("src.bin", data)
    rclone(ctx, "copyto", str(src), f"cf:{b}/{key}")
    dst = ctx.path("dst.bin")
    rclone(ctx, "copyto", f"cf:{b}/{key}", str(dst))
    ensure(dst.read_bytes() == data, f"bytes of {key!r} equal")


@check(C, "uploads: copyto of a small file round-trips")
def _(ctx: Context) -> None:
    copy_round_trip(ctx, "small.txt", b"hello from rclone")


@check(C, "uploads: copyto of an empty file round-trips")
def _(ctx: Context) -> None:
    copy_round_trip(ctx, "empty.txt", b"")


@check(C, "uploads: copyto with a unicode name round-trips")
def _(ctx: Context) -> None:
    copy_round_trip(ctx, UNICODE_KEY, b"unicode")


@check(C, "uploads: copyto of 12 MiB goes multipart and round-trips", timeout=180)
def _(ctx: Context) -> None:
    copy_round_trip(ctx, "big.bin", payload(12 * MiB, "rclone"))


@check(C, "uploads: rcat streams stdin into an object", timeout=180)
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(7 * MiB, "rcat")
    put(ctx, b, "stream.bin", data)
    ensure(rclone(ctx, "cat", f"cf:{b}/stream.bin").stdout == data, "bytes equal")


@check(C, "downloads: cat --offset --count reads a byte range")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "r", b"0123456789")
    equal(rclone(ctx, "cat", f"cf:{b}/r", "--offset", "2", "--count", "5").stdout, b"23456", "range")


@check(C, "metadata: md5sum of a single-part object is the content MD5")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(4096, "md5")
    rclone(ctx, "copyto", str(ctx.file("m", data)), f"cf:{b}/m")
    equal(out(ctx, "md5sum", f"cf:{b}/m").split()[0], md5_hex(data), "md5sum")


@check(C, "metadata: md5sum of a multipart object comes from rclone's stored metadata", timeout=180)
def _(ctx: Context) -> None:
    b = bucket(ctx)
    data = payload(11 * MiB, "mpmd5")
    rclone(ctx, "copyto", str(ctx.file("m", data)), f"cf:{b}/m")
    equal(out(ctx, "md5sum", f"cf:{b}/m").split()[0], md5_hex(data), "md5sum")


@check(C, "metadata: modification time survives the round trip (x-amz-meta-mtime)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    src = ctx.file("old.txt", b"old")
    os.utime(src, (981173106, 981173106))  # 2001-02-03 04:05:06 UTC
    rclone(ctx, "copyto", str(src), f"cf:{b}/old.txt")
    line = out(ctx, "lsl", f"cf:{b}/old.txt", "--max-depth", "1")
    ensure("2001-02-03" in line, f"lsl shows the local mtime: {line!r}")


# --- listing ----------------------------------------------------------------------------


def tree(ctx: Context) -> str:
    b = bucket(ctx)
    for k in ("a.txt", "dir/b.txt", "dir/sub/c.txt"):
        put(ctx, b, k, k.encode())
    return b


@check(C, "listing: lsf shows one level with folders ending in /")
def _(ctx: Context) -> None:
    b = tree(ctx)
    equal(sorted(out(ctx, "lsf", f"cf:{b}").split()), ["a.txt", "dir/"], "top level")
    equal(sorted(out(ctx, "lsf", f"cf:{b}/dir").split()), ["b.txt", "sub/"], "dir/")


@check(C, "listing: lsf -R lists every key of a >1000-key bucket", timeout=240)
def _(ctx: Context) -> None:
    b = paged_s3_bucket(ctx)
    files = [ln for ln in out(ctx, "lsf", "-R", "--files-only", f"cf:{b}").splitlines() if ln.strip()]
    equal(len(files), PAGED_COUNT, "file count")


@check(C, "listing: size reports object count and total bytes")
def _(ctx: Context) -> None:
    b = tree(ctx)
    size = json.loads(out(ctx, "size", f"cf:{b}", "--json"))
    equal((size["count"], size["bytes"]), (3, len(b"a.txt" + b"dir/b.txt" + b"dir/sub/c.txt")), "count, bytes")


# --- sync, copy, move, delete -----------------------------------------------------------


def local_tree(ctx: Context) -> Path:
    for rel, data in {"one.txt": b"1", "two/three.txt": b"3", "two/four/five.bin": payload(5000)}.items():
        ctx.file(f"up/{rel}", data)
    return ctx.path("up")


@check(C, "sync: sync up then check finds no differences")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    src = local_tree(ctx)
    rclone(ctx, "sync", str(src), f"cf:{b}/tree")
    rclone(ctx, "check", str(src), f"cf:{b}/tree")
    rclone(ctx, "sync", f"cf:{b}/tree", str(ctx.path("down")))
    rclone(ctx, "check", str(src), str(ctx.path("down")))


@check(C, "sync: a second sync of an unchanged tree copies nothing")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    src = local_tree(ctx)
    rclone(ctx, "sync", str(src), f"cf:{b}/tree")
    log = rclone(ctx, "sync", str(src), f"cf:{b}/tree", "-v").stderr.decode()
    ensure("Copied" not in log, f"nothing copied: {log[-300:]}")


@check(C, "copy: copyto between remote keys copies server-side")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "src", b"copied")
    rclone(ctx, "copyto", f"cf:{b}/src", f"cf:{b}/dst")
    equal(rclone(ctx, "cat", f"cf:{b}/dst").stdout, b"copied", "copy")


@check(C, "move: moveto renames a key (source gone)")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "from", b"moved")
    rclone(ctx, "moveto", f"cf:{b}/from", f"cf:{b}/to")
    equal(rclone(ctx, "cat", f"cf:{b}/to").stdout, b"moved", "destination")
    equal(out(ctx, "lsf", f"cf:{b}").split(), ["to"], "listing")


@check(C, "delete: deletefile removes one key")
def _(ctx: Context) -> None:
    b = tree(ctx)
    rclone(ctx, "deletefile", f"cf:{b}/a.txt")
    equal(sorted(out(ctx, "lsf", "-R", "--files-only", f"cf:{b}").split()), ["dir/b.txt", "dir/sub/c.txt"], "left")


@check(C, "delete: delete removes every file under a path")
def _(ctx: Context) -> None:
    b = tree(ctx)
    rclone(ctx, "delete", f"cf:{b}/dir")
    equal(out(ctx, "lsf", "-R", "--files-only", f"cf:{b}").split(), ["a.txt"], "left")


@check(C, "signed URLs: link gives a presigned URL that downloads with plain HTTP")
def _(ctx: Context) -> None:
    b = bucket(ctx)
    put(ctx, b, "l.txt", b"linked")
    url = out(ctx, "link", f"cf:{b}/l.txt", "--expire", "1h").strip()
    r = httpx.get(url, timeout=30)
    equal((r.status_code, r.content), (200, b"linked"), "GET link")


# --- the edges AWS answers in its own way (issue 16) ------------------------------------


@check(C, "uploads: a multipart copyto gets each part's 100 Continue at once (Expect: 100-Continue)", timeout=180)
def _(ctx: Context) -> None:
    """aws-sdk-go writes `Expect: 100-Continue` with a capital C; told to wait up to 20 s
    for each part's interim answer, rclone must still finish 4 parts quickly."""
    b = bucket(ctx)
    data = payload(16 * MiB, "continue")
    started = time.monotonic()
    rclone(ctx, "copyto", str(ctx.file("c.bin", data)), f"cf:{b}/c.bin", "--expect-continue-timeout", "20s",
           "--s3-upload-concurrency", "1")
    elapsed = time.monotonic() - started
    ensure(elapsed < 15, f"{elapsed:.1f} s for 4 parts: they waited for 100 Continue")
    equal(out(ctx, "md5sum", f"cf:{b}/c.bin").split()[0], md5_hex(data), "md5sum")


@check(C, "metadata: --metadata-set with non-ASCII values (raw UTF-8) uploads; read back RFC 2047-encoded")
def _(ctx: Context) -> None:
    """rclone sends the value as raw UTF-8 and signs those bytes; S3 returns non-ASCII
    metadata RFC 2047-encoded, which rclone shows as it is."""
    b = bucket(ctx)
    text = "Grüße aus Köln 日本"
    rclone(ctx, "copyto", str(ctx.file("m.txt", b"meta")), f"cf:{b}/m.txt", "--metadata", "--metadata-set",
           f"title={text}")
    info = json.loads(out(ctx, "lsjson", "--stat", "--metadata", f"cf:{b}/m.txt"))
    shown = str(info.get("Metadata", {}).get("title"))
    decoded = "".join(p.decode(c or "utf-8") if isinstance(p, bytes) else p for p, c in decode_header(shown))
    equal(decoded, text, f"title ({shown!r})")


@check(C, "buckets: rmdir removes a bucket left with only an unfinished multipart upload")
def _(ctx: Context) -> None:
    b = ctx.name("rcmp")
    rclone(ctx, "mkdir", f"cf:{b}")
    ctx.defer(rclone, ctx, "purge", f"cf:{b}", ok=False)
    s3 = s3_client(ctx.target)
    s3.create_multipart_upload(Bucket=b, Key="left/behind")
    rclone(ctx, "rmdir", f"cf:{b}")
    ensure(b not in out(ctx, "lsd", "cf:"), "bucket gone")
