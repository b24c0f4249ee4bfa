"""Helpers of the concurrency tests (test_races*.py): tagged bodies, a ledger of
operations with their outcomes, real clients per thread, and a white-box audit of
what a bucket holds once every request has been answered.

The audit compares the rows of `storage.objects` with the version blobs the backend
holds for the bucket (files under the file backend's directory, keys in the upstream
bucket). In a fault-free run every superseded or failed version is deleted before its
request is answered, so after quiescence:

- every row points at an existing blob (no "dangling" row),
- every blob is pointed at by a row (no "orphan"): an orphan that holds the body of an
  acknowledged write no key holds any more is exactly the trace of a lost write,
- every current object's bytes match the size and ETag its row carries.

This leans on the write path's contract (docs/architecture.md): the superseded version
is deleted before the write is answered. Should old versions ever be kept for a grace
period instead, the audit has to wait that long before it counts orphans.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.integration.s3_support import s3_client
from tests.rig import TENANT, Postgres, Server

TRANSPORT_ERROR = 599  # the status recorded when a request got no answer at all


@pytest.fixture(scope="module", params=["file", "s3"])
def two_worker_server(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    """conftest's `server` with two worker processes, as in production (and as issue 15's
    campaign ran): races between processes are real parallelism, where one worker's
    interleavings on its event loop hide most of them (a reader's 404 during an
    overwrite: 0.1 % of reads with one worker on the file backend, several % with two).
    The race modules bind it as `server`, so `http` and `bucket` use it too."""
    upstream = request.getfixturevalue("upstream") if request.param == "s3" else None
    srv = Server(backend=request.param, database_url=postgres.new_database(f"s3proxy_races_{request.param}"),
                 upstream=upstream, workers=2)
    with srv.running():
        yield srv


# --- bodies -------------------------------------------------------------------------


def body(tag: str, size: int = 4096) -> bytes:
    """A body that names itself on its first line, so any blob can be attributed."""
    head = f"race:{tag}\n".encode()
    return head + os.urandom(max(0, size - len(head)))


def tag_of(data: bytes) -> str | None:
    """The tag of a body made by `body`; None for anything else (or a corrupted head)."""
    if not data.startswith(b"race:"):
        return None
    head, sep, _ = data.partition(b"\n")
    return head[5:].decode(errors="replace") if sep else None


def held(data: bytes | None) -> str | None:
    """What a key holds, for comparisons and messages: None when it does not exist."""
    return None if data is None else tag_of(data) or "<untagged>"


def summary(server: Server, facts: dict[str, Any]) -> str:
    """One line of what a run saw, for the assertion messages and the captured output."""
    return f"[{server.backend} backend] " + "; ".join(f"{k} {v}" for k, v in facts.items())


# --- outcomes -----------------------------------------------------------------------


def rest_status(response: httpx.Response) -> int:
    """The real status of a REST answer: Supabase's envelope says it as `statusCode`
    inside an HTTP 400."""
    if response.status_code == 400:
        try:
            return int(response.json()["statusCode"])
        except (ValueError, KeyError, TypeError):
            return 400
    return response.status_code


def s3_status(call: Callable[[], Any]) -> int:
    """Run one boto3 call; its HTTP status, or the error's."""
    try:
        result = call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except BotoCoreError:
        return TRANSPORT_ERROR
    return int(result["ResponseMetadata"]["HTTPStatusCode"])


@dataclass(frozen=True)
class Op:
    """One request and its answer. `tag` names the body a write sent; `dest` is the
    destination of a move or copy."""

    kind: str
    key: str
    status: int
    start: float
    end: float
    tag: str | None = None
    dest: str | None = None


class Ledger:
    """Every operation of a run, appended from many threads."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.bodies: dict[str, bytes] = {}  # tag -> the body sent with it
        self._lock = threading.Lock()

    def add(self, op: Op) -> Op:
        with self._lock:
            self.ops.append(op)
        return op

    def sending(self, tag: str, data: bytes) -> None:
        """Remember a body before it is sent: a reader may see it before its write is answered."""
        with self._lock:
            self.bodies[tag] = data

    def of(self, *kinds: str) -> list[Op]:
        return [op for op in self.ops if op.kind in kinds]

    def unexpected(self, allowed: dict[str, set[int]]) -> Counter[str]:
        """`kind status` -> count, for every answer outside the kind's allowed statuses."""
        return Counter(f"{op.kind} {op.status}" for op in self.ops if op.status not in allowed[op.kind])


class Clients:
    """One REST client and one S3 client for one thread (boto3 clients are made on the
    calling thread, where boto3's default session is safe to use)."""

    def __init__(self, server: Server, bucket: str) -> None:
        self.bucket = bucket
        self.http = httpx.Client(base_url=server.url, headers=server.headers(), timeout=60)
        self.s3 = s3_client(server, mode="when_required")

    def close(self) -> None:
        self.http.close()

    def timed(self, ledger: Ledger, kind: str, key: str, call: Callable[[], int], *, tag: str | None = None,
              data: bytes | None = None, dest: str | None = None) -> Op:
        if tag is not None and data is not None:
            ledger.sending(tag, data)
        start = time.monotonic()
        try:
            status = call()
        except httpx.HTTPError:
            status = TRANSPORT_ERROR
        return ledger.add(Op(kind, key, status, start, time.monotonic(), tag, dest))

    # writes of a whole body; `how` picks the protocol and method

    def write(self, ledger: Ledger, how: str, key: str, tag: str, data: bytes) -> Op:
        url = f"object/{self.bucket}/{key}"
        calls: dict[str, Callable[[], int]] = {
            "rest-put": lambda: rest_status(self.http.put(url, content=data)),
            "rest-post": lambda: rest_status(self.http.post(url, content=data, headers={"x-upsert": "true"})),
            "s3-put": lambda: s3_status(lambda: self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)),
        }
        return self.timed(ledger, how, key, calls[how], tag=tag, data=data)

    def move(self, ledger: Ledger, key: str, dest: str) -> Op:
        payload = {"bucketId": self.bucket, "sourceKey": key, "destinationKey": dest}
        return self.timed(ledger, "move", key, lambda: rest_status(self.http.post("object/move", json=payload)),
                          dest=dest)

    def rest_copy(self, ledger: Ledger, key: str, dest: str) -> Op:
        payload = {"bucketId": self.bucket, "sourceKey": key, "destinationKey": dest}
        return self.timed(ledger, "rest-copy", key,
                          lambda: rest_status(self.http.post("object/copy", json=payload)), dest=dest)

    def s3_copy(self, ledger: Ledger, key: str, dest: str, kind: str = "s3-copy") -> Op:
        source = {"Bucket": self.bucket, "Key": key}
        return self.timed(ledger, kind, key, lambda: s3_status(
            lambda: self.s3.copy_object(Bucket=self.bucket, Key=dest, CopySource=source)), dest=dest)

    def rest_delete(self, ledger: Ledger, key: str) -> Op:
        return self.timed(ledger, "rest-delete", key,
                          lambda: rest_status(self.http.delete(f"object/{self.bucket}/{key}")))

    def s3_delete(self, ledger: Ledger, key: str, kind: str = "s3-delete") -> Op:
        return self.timed(ledger, kind, key,
                          lambda: s3_status(lambda: self.s3.delete_object(Bucket=self.bucket, Key=key)))

    def get(self, key: str) -> bytes | None:
        """The current body of `key`, or None when it does not exist."""
        r = self.http.get(f"object/{self.bucket}/{key}")
        if rest_status(r) == 404:
            return None
        assert r.status_code == 200, (key, r.status_code, r.text[:200])
        return r.content


def run_threads(targets: list[Callable[[], None]], *, timeout: float) -> None:
    """Run each target on its own thread; fail if one raises or outlives `timeout`
    (every test of these modules must end in bounded time)."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported on the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"threads still running after {timeout}s"
    if errors:  # the cause first: a lane's other threads only saw its barrier broken
        raise sorted(errors, key=lambda e: isinstance(e, threading.BrokenBarrierError))[0]


@dataclass
class Deadline:
    """Stop a load loop after `seconds` or once `stop` is set."""

    seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    start: float = field(default_factory=time.monotonic)

    def __iter__(self) -> Iterator[int]:
        i = 0
        while not self.stop.is_set() and time.monotonic() - self.start < self.seconds:
            yield i
            i += 1


# --- the white-box audit ------------------------------------------------------------


@dataclass
class Row:
    name: str
    version: str
    size: int
    etag: str
    part_sizes: list[int] | None


def rows(server: Server, bucket: str) -> dict[str, Row]:
    """name -> the row of every object of the bucket."""
    found: dict[str, Row] = {}
    for r in server.sql("SELECT name, version, metadata::text AS metadata FROM storage.objects"
                        " WHERE bucket_id = $1", bucket):
        meta = json.loads(r["metadata"] or "{}")
        found[r["name"]] = Row(r["name"], r["version"], int(meta.get("size") or 0), str(meta.get("eTag")),
                               meta.get("s3PartSizes"))
    return found


def blobs(server: Server, bucket: str) -> dict[tuple[str, str], Callable[[], bytes]]:
    """(name, version) -> a reader, for every version blob the backend holds for the bucket."""
    prefix = f"{TENANT}/{bucket}/"
    found: dict[tuple[str, str], Callable[[], bytes]] = {}
    if server.backend == "file":
        root = Path(server.workdir) / "files" / TENANT / bucket
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file():
                name, _, version = "/".join(unquote(p) for p in path.relative_to(root).parts).rpartition("/")
                found[(name, version)] = path.read_bytes
        return found
    assert server.upstream is not None
    client = server.upstream.client()
    upstream_bucket = server.upstream.bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=upstream_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name, _, version = item["Key"][len(prefix):].rpartition("/")

            def read(key: str = item["Key"]) -> bytes:
                return client.get_object(Bucket=upstream_bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
            found[(name, version)] = read
    return found


def expected_etag(data: bytes, part_sizes: list[int] | None) -> str:
    """The ETag of whole bytes: their MD5, or for a multipart object the MD5 of the
    parts' MD5s with the part count."""
    if not part_sizes:
        return f'"{hashlib.md5(data).hexdigest()}"'
    digests, offset = b"", 0
    for size in part_sizes:
        digests += hashlib.md5(data[offset:offset + size]).digest()
        offset += size
    return f'"{hashlib.md5(digests).hexdigest()}-{len(part_sizes)}"'


@dataclass
class Audit:
    """What a bucket holds after quiescence, and what is wrong with it."""

    current: dict[str, bytes]  # name -> bytes of the current version (read from the backend)
    dangling: list[str]  # rows whose blob is missing
    orphans: dict[tuple[str, str], bytes]  # blobs no row points at
    mismatched: list[str]  # rows whose bytes do not match their size / ETag

    def orphan_tags(self) -> list[str | None]:
        return [tag_of(data) for data in self.orphans.values()]

    def lost(self, acknowledged: set[str]) -> set[str]:
        """Acknowledged bodies that survive only in orphaned blobs."""
        held = {tag_of(data) for data in self.current.values()}
        return {t for t in self.orphan_tags() if t in acknowledged and t not in held}

    def problems(self) -> list[str]:
        out = []
        if self.dangling:
            out.append(f"{len(self.dangling)} row(s) without bytes: {sorted(self.dangling)[:5]}")
        if self.orphans:
            out.append(f"{len(self.orphans)} orphaned blob(s), holding {sorted(map(str, self.orphan_tags()))[:8]}")
        if self.mismatched:
            out.append(f"{len(self.mismatched)} object(s) whose bytes differ from their size/ETag: "
                       f"{self.mismatched[:5]}")
        return out


def audit(server: Server, bucket: str) -> Audit:
    table = rows(server, bucket)
    stored = blobs(server, bucket)
    pointed = {(r.name, r.version) for r in table.values()}
    current: dict[str, bytes] = {}
    dangling: list[str] = []
    mismatched: list[str] = []
    for row in table.values():
        read = stored.get((row.name, row.version))
        if read is None:
            dangling.append(row.name)
            continue
        data = read()
        current[row.name] = data
        if len(data) != row.size or expected_etag(data, row.part_sizes) != row.etag:
            mismatched.append(f"{row.name} ({len(data)} bytes, row says {row.size} {row.etag})")
    orphans = {k: read() for k, read in stored.items() if k not in pointed}
    return Audit(current, dangling, orphans, mismatched)


# --- rounds of a few requests started together ----------------------------------------


Contender = Callable[["Clients", str, Any], Op]


def race_rounds(lanes: list[list[Clients]], rounds: int, *, setup: Callable[[Clients, str], Any],
                contenders: list[Contender], check: Callable[[Clients, str, Any, list[Op]], None],
                timeout: float) -> None:
    """Lanes run in parallel, each on its own names; in every round of a lane, `setup`
    prepares (on the lane's first client), then the contenders start together, one per
    thread, released by a barrier, and once all have been answered `check` looks at
    the outcome. `name` (`l{lane}r{round}`) keeps each round's keys apart."""

    def lane_threads(number: int, clients: list[Clients]) -> list[Callable[[], None]]:
        barrier = threading.Barrier(len(contenders))
        ops: list[Op | None] = [None] * len(contenders)
        state: list[Any] = [None]

        def contender(i: int) -> Callable[[], None]:
            def run() -> None:
                try:
                    for r in range(rounds):
                        name = f"l{number}r{r}"
                        if i == 0:
                            state[0] = setup(clients[0], name)
                        barrier.wait()
                        ops[i] = contenders[i](clients[i], name, state[0])
                        barrier.wait()
                        if i == 0:
                            check(clients[0], name, state[0], [op for op in ops if op is not None])
                except BaseException:
                    barrier.abort()  # the lane's other threads stop instead of waiting forever
                    raise
            return run

        return [contender(i) for i in range(len(contenders))]

    targets = [t for n, clients in enumerate(lanes) for t in lane_threads(n, clients)]
    try:
        run_threads(targets, timeout=timeout)
    finally:
        for clients in lanes:
            for c in clients:
                c.close()


class LogMark:
    """The server log from now on: which exceptions and 5xx answers it reported, with their causes."""

    def __init__(self, server: Server) -> None:
        self.path = Path(server.workdir) / "server.log"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def exceptions(self) -> Counter[str]:
        if not self.path.exists():
            return Counter()
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        lines = [line.strip() for line in text.splitlines()]
        raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line) and ":" in line]
        answered = [line[line.index("WARNING"):] for line in lines if " WARNING " in line and " -> " in line]
        return Counter(re.sub(r"'[^']*'", "'...'", line)[:200] for line in raised + answered)
