"""More races of one key (issue 15 §1c), over real HTTP on both backends: UploadPart
racing CompleteMultipartUpload, readers during overwrites, a service_role delete
racing a write, a move racing a delete.

Each test checks the answers against what some serial order of the same requests
could have produced (the protocol's promise), and ends with the white-box audit of
race_support (no row without bytes, no orphaned blob, bytes match size and ETag).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError

from tests.integration import race_support
from tests.integration.race_support import (
    Clients,
    Deadline,
    Ledger,
    LogMark,
    Op,
    audit,
    body,
    held,
    race_rounds,
    rest_status,
    run_threads,
    s3_status,
    summary,
    tag_of,
)
from tests.rig import TENANT, Server

server = race_support.two_worker_server  # overrides conftest's `server` here (and so `http`, `bucket`)
MiB = 1024 * 1024
LANES = 6
ROUNDS = 20


# --- UploadPart racing CompleteMultipartUpload ---------------------------------------------------


def _multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def _leftover_uploads(server: Server, bucket: str, upload_ids: list[str]) -> int:
    """Backend multipart uploads of this test still open after every round ended."""
    if server.backend == "file":
        folder = Path(server.workdir) / "files" / ".multipart"
        return sum((folder / uid).exists() for uid in upload_ids)
    assert server.upstream is not None
    listed = server.upstream.client().list_multipart_uploads(Bucket=server.upstream.bucket,
                                                             Prefix=f"{TENANT}/{bucket}/")
    return len(listed.get("Uploads", []))


def test_complete_racing_upload_part_takes_the_listed_parts(server: Server, bucket: str,
                                                            http: httpx.Client) -> None:
    """Each round: an upload has part 1 (5 MiB, copied server-side) and part 2 = A;
    CompleteMultipartUpload listing A's ETag and an UploadPart replacing part 2 with
    B start together. A completed object must hold exactly part 1 + A (bytes, size,
    ETag); otherwise Complete must fail and no object exists."""
    mark = LogMark(server)
    first = body("part1", 5 * MiB)
    assert http.put(f"object/{bucket}/part1-source", content=first).status_code == 200
    ledger = Ledger()
    outcomes: Counter[str] = Counter()
    upload_ids: list[str] = []

    def setup(c: Clients, name: str) -> dict[str, Any]:
        key = f"{name}/mp"
        uid = c.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        upload_ids.append(uid)
        e1 = c.s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                                   CopySource={"Bucket": bucket, "Key": "part1-source"})["CopyPartResult"]["ETag"]
        a, b = body(f"{name}-A", 64 * 1024), body(f"{name}-B", 48 * 1024)
        ea = c.s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=a)["ETag"]
        return {"key": key, "uid": uid, "parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": ea}],
                "A": a, "B": b}

    def complete(c: Clients, name: str, st: dict[str, Any]) -> Op:
        return c.timed(ledger, "complete", st["key"], lambda: s3_status(lambda: c.s3.complete_multipart_upload(
            Bucket=bucket, Key=st["key"], UploadId=st["uid"], MultipartUpload={"Parts": st["parts"]})))

    def replace_part(c: Clients, name: str, st: dict[str, Any]) -> Op:
        return c.timed(ledger, "upload-part", st["key"], lambda: s3_status(lambda: c.s3.upload_part(
            Bucket=bucket, Key=st["key"], UploadId=st["uid"], PartNumber=2, Body=st["B"])))

    def check(c: Clients, name: str, st: dict[str, Any], ops: list[Op]) -> None:
        done, part = ops
        if done.status not in (200, 400, 404, 409) or part.status not in (200, 404, 409):
            outcomes[f"answered: complete {done.status}, upload-part {part.status}"] += 1
        if done.status != 200:
            c.s3.abort_multipart_upload(Bucket=bucket, Key=st["key"], UploadId=st["uid"])
            exists = s3_status(lambda: c.s3.head_object(Bucket=bucket, Key=st["key"])) == 200
            outcomes["complete refused, object exists" if exists else "complete refused"] += 1
            return
        head = c.s3.head_object(Bucket=bucket, Key=st["key"])
        try:  # part 2 as served: a body shorter than the size announced breaks the stream
            tail: bytes | None = c.s3.get_object(Bucket=bucket, Key=st["key"],
                                                 Range=f"bytes={len(first)}-")["Body"].read()
        except BotoCoreError:
            tail = None
        if (head["ETag"], head["ContentLength"], tail) == (_multipart_etag([first, st["A"]]),
                                                           len(first) + len(st["A"]), st["A"]):
            outcomes["completed with A"] += 1
        else:
            etag = "A's" if head["ETag"] == _multipart_etag([first, st["A"]]) else "another"
            served = "B" if tail == st["B"] else "a broken stream" if tail is None else held(tail)
            outcomes[f"CORRUPT: {etag} ETag, part 2 served as {served}"] += 1

    lanes = [[Clients(server, bucket), Clients(server, bucket)] for _ in range(4)]
    race_rounds(lanes, 10, setup=setup, contenders=[complete, replace_part], check=check, timeout=90)
    found = audit(server, bucket)
    bad = {k: v for k, v in outcomes.items() if k not in ("completed with A", "complete refused")}
    facts = {"rounds": 40, "outcomes": dict(outcomes), "audit": found.problems(),
             "leftover uploads": _leftover_uploads(server, bucket, upload_ids),
             "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not bad and not found.problems(), summary(server, facts)


# --- readers while the key is overwritten --------------------------------------------------------

READ_SECONDS = 6.0


def test_readers_never_see_an_overwritten_key_missing(server: Server, bucket: str, http: httpx.Client) -> None:
    """An existing key is overwritten continuously (REST PUT, S3 PutObject) while
    readers GET and HEAD it (REST and S3): every read must find the old or the new
    object, whole, never "not found"."""
    mark = LogMark(server)
    ledger = Ledger()
    ledger.bodies["initial"] = body("initial")
    assert http.put(f"object/{bucket}/hot", content=ledger.bodies["initial"]).status_code == 200
    deadline = Deadline(READ_SECONDS)
    torn: Counter[str] = Counter()

    def writer(c: Clients, w: int) -> None:
        for i in deadline:
            tag = f"w{w}-{i}"
            c.write(ledger, ("rest-put", "s3-put")[(w + i) % 2], "hot", tag, body(tag, random.randint(1, 64) * 1024))

    def whole(kind: str, data: bytes, etag: str) -> None:
        if ledger.bodies.get(tag_of(data) or "") != data or f'"{hashlib.md5(data).hexdigest()}"' != etag:
            torn[kind] += 1

    def rest_get(c: Clients) -> int:
        r = c.http.get(f"object/{bucket}/hot")
        if r.status_code == 200:
            whole("rest-get", r.content, r.headers.get("etag", ""))
        return rest_status(r)

    def s3_get(c: Clients) -> int:
        def call() -> Any:
            got = c.s3.get_object(Bucket=bucket, Key="hot")
            whole("s3-get", got["Body"].read(), got["ETag"])
            return got
        return s3_status(call)

    reads = {
        "rest-get": rest_get,
        "rest-head": lambda c: rest_status(c.http.head(f"object/{bucket}/hot")),
        "s3-get": s3_get,
        "s3-head": lambda c: s3_status(lambda: c.s3.head_object(Bucket=bucket, Key="hot")),
    }

    def reader(c: Clients, kind: str) -> None:
        for _ in deadline:
            c.timed(ledger, kind, "hot", lambda: reads[kind](c))

    def bind(fn: Any, *args: Any) -> Any:
        c = Clients(server, bucket)
        return lambda: fn(c, *args)

    targets = [bind(writer, w) for w in range(4)] + [bind(reader, k) for k in reads for _ in range(2)]
    run_threads(targets, timeout=READ_SECONDS + 40)
    found = audit(server, bucket)
    statuses = ledger.unexpected({"rest-put": {200}, "s3-put": {200}, **{k: {200} for k in reads}})
    read_ops = ledger.of(*reads)
    missing = sum(op.status == 404 for op in read_ops)
    facts = {"reads": len(read_ops), "writes": len(ledger.of("rest-put", "s3-put")),
             "404": f"{missing} ({100 * missing / max(1, len(read_ops)):.1f} %)",
             "unexpected statuses": dict(statuses), "torn or mismatched bodies": dict(torn),
             "audit": found.problems(), "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not statuses and not torn, summary(server, facts)
    assert not found.problems(), summary(server, facts)


# --- a service_role delete racing a write --------------------------------------------------------

DELETE_SECONDS = 5.0


def test_delete_racing_put_is_never_denied(server: Server, bucket: str) -> None:
    """Writers (REST PUT, POST x-upsert, S3 PutObject) and deleters (REST DELETE, S3
    DeleteObject), all service_role, on one key: a delete finds the object and removes
    it, or finds nothing (REST 404, S3 204); never 403 AccessDenied."""
    mark = LogMark(server)
    ledger = Ledger()
    deadline = Deadline(DELETE_SECONDS)

    def writer(c: Clients, w: int) -> None:
        for i in deadline:
            tag = f"w{w}-{i}"
            c.write(ledger, ("rest-put", "rest-post", "s3-put")[w % 3], "k", tag, body(tag))

    def deleter(c: Clients, d: int) -> None:
        for _ in deadline:
            if d % 2:
                c.rest_delete(ledger, "k")
            else:
                c.s3_delete(ledger, "k")

    def bind(fn: Any, *args: Any) -> Any:
        c = Clients(server, bucket)
        return lambda: fn(c, *args)

    run_threads([bind(writer, w) for w in range(3)] + [bind(deleter, d) for d in range(4)],
                timeout=DELETE_SECONDS + 40)
    found = audit(server, bucket)
    statuses = ledger.unexpected({"rest-put": {200}, "rest-post": {200}, "s3-put": {200},
                                  "rest-delete": {200, 404}, "s3-delete": {204}})
    deletes = ledger.of("rest-delete", "s3-delete")
    facts = {"deletes": len(deletes), "denied": sum(op.status == 403 for op in deletes),
             "writes": len(ledger.of("rest-put", "rest-post", "s3-put")), "unexpected statuses": dict(statuses),
             "audit": found.problems(), "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not statuses, summary(server, facts)
    assert not found.problems(), summary(server, facts)


# --- a move racing a delete ------------------------------------------------------------------------


def test_move_racing_delete_is_neither_denied_nor_5xx(server: Server, bucket: str) -> None:
    """Each round: `src` holds A; a move src -> dst and a delete of src (REST or S3 in
    turn) start together. Neither may fail with 5xx or be denied; afterwards src is
    gone, and dst holds A exactly when the move answered 200."""
    mark = LogMark(server)
    ledger = Ledger()
    outcomes: Counter[str] = Counter()

    def setup(c: Clients, name: str) -> str:
        tag = f"{name}-A"
        assert c.write(ledger, "rest-put", f"{name}/src", tag, body(tag)).status == 200
        return tag

    def move(c: Clients, name: str, tag: str) -> Op:
        return c.move(ledger, f"{name}/src", f"{name}/dst")

    def delete(c: Clients, name: str, tag: str) -> Op:
        if int(name.rpartition("r")[2]) % 2:
            return c.rest_delete(ledger, f"{name}/src")
        return c.s3_delete(ledger, f"{name}/src")

    def check(c: Clients, name: str, tag: str, ops: list[Op]) -> None:
        moved, deleted = ops
        src, dst = held(c.get(f"{name}/src")), held(c.get(f"{name}/dst"))
        answers = f"move {moved.status}, {deleted.kind} {deleted.status}"
        if moved.status not in (200, 404, 409) or deleted.status not in (200, 204, 404):
            outcomes[f"answered: {answers}"] += 1
        elif src is not None or (dst == tag) != (moved.status == 200) or dst not in (None, tag):
            outcomes[f"WRONG state after {answers}: src {src}, dst {dst}"] += 1
        else:
            outcomes["move won" if moved.status == 200 else "delete won"] += 1

    lanes = [[Clients(server, bucket), Clients(server, bucket)] for _ in range(LANES)]
    race_rounds(lanes, ROUNDS, setup=setup, contenders=[move, delete], check=check, timeout=60)
    found = audit(server, bucket)
    bad = {k: v for k, v in outcomes.items() if k not in ("move won", "delete won")}
    facts = {"rounds": LANES * ROUNDS, "outcomes": dict(outcomes), "audit": found.problems(),
             "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not bad and not found.problems(), summary(server, facts)
