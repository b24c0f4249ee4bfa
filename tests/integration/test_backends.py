"""Both byte stores behind one contract: the file backend in a temp dir and the S3
backend against the session's SeaweedFS. Each test runs its coroutine with
asyncio.run, so no async test plugin is needed."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler

from s3proxy import errors
from s3proxy.backends.base import Backend, ObjectStream, PartInfo
from s3proxy.backends.file import FileBackend
from s3proxy.backends.s3 import QUEUE_DEPTH, S3Backend, _Chunks
from tests.rig import SeaweedFS, free_port

MiB = 1024 * 1024
KEYS = ["plain.txt", "ünïcødé/日本語 файл.bin", "with space/and+plus", "per%cent%2Fand%20", "q?uestion#hash&amp=1",
        "dots/..x/.hidden/...//slashes", "emoji 🚀 'quote' \"dq\" <lt> ~tilde~ (paren) [brk] {brace} ;:@!$*,="]

Make = Callable[..., Backend]


@pytest.fixture(params=["file", "s3"])
def make(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    """A factory of fresh backends of the parameter's kind (part_size only matters for s3)."""
    if request.param == "file":
        yield lambda part_size=5 * MiB: FileBackend(tmp_path / "files")
        return
    yield s3_factory(request.getfixturevalue("upstream"), monkeypatch)


def s3_factory(upstream: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> Make:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", upstream.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", upstream.secret)
    for name in ("AWS_CA_BUNDLE", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return lambda part_size=5 * MiB: S3Backend(bucket=upstream.bucket, endpoint=upstream.endpoint,
                                               region=upstream.region, force_path_style=True,
                                               part_size=part_size)


@pytest.fixture
def prefix() -> str:
    """Keys of one test stay apart from every other test's in the shared bucket."""
    return f"t-{uuid.uuid4().hex[:10]}/"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[object] = []  # log records and asyncio error contexts

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != "tornado.access":  # the scripted upstream's 5xx answers
            self.records.append(record)


def run(backend: Backend, scenario: Callable[[Backend], Awaitable[None]]) -> None:
    """Run the scenario on a fresh loop; errors logged by asyncio or tornado fail the test."""
    logged = _Errors()

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: logged.records.append(context))
        try:
            await scenario(backend)
        finally:
            await backend.close()
            await asyncio.sleep(0.05)  # let abandoned requests wind down

    logging.getLogger().addHandler(logged)
    try:
        asyncio.run(go())
        gc.collect()
    finally:
        logging.getLogger().removeHandler(logged)
    assert logged.records == []


async def body(data: bytes, chunk: int = 64 * 1024, fail_at: int | None = None) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), chunk):
        if fail_at is not None and offset >= fail_at:
            raise RuntimeError("client went away")
        yield data[offset: offset + chunk]
        await asyncio.sleep(0)


async def read(stream: ObjectStream) -> bytes:
    return b"".join([chunk async for chunk in stream.chunks])


async def fetch(backend: Backend, key: str, start: int = 0, end: int | None = None) -> bytes:
    return await read(await backend.get(key, start=start, end=end))


async def put(backend: Backend, key: str, data: bytes, *, known: bool = True, chunk: int = 64 * 1024) -> None:
    await backend.put(key, body(data, chunk), size=len(data) if known else None,
                      content_type="application/octet-stream", cache_control="max-age=60")


async def missing(call: Awaitable[object], code: str = "NoSuchKey") -> None:
    with pytest.raises(errors.Error) as info:
        await call
    assert info.value.code == code


def blob(size: int) -> bytes:
    return os.urandom(size)


def test_put_known_size_then_get_ranges_and_size(make: Make, prefix: str) -> None:
    data = blob(300_000)

    async def scenario(b: Backend) -> None:
        key = prefix + "known"
        await put(b, key, data)
        assert await b.size(key) == len(data)
        stream = await b.get(key)
        assert (stream.size, stream.start, stream.end) == (len(data), 0, len(data) - 1)
        assert await read(stream) == data
        for start, end in [(0, 0), (1, 1000), (65_535, 65_537), (299_999, 299_999), (123_456, None)]:
            stream = await b.get(key, start=start, end=end)
            last = len(data) - 1 if end is None else end
            assert (stream.size, stream.start, stream.end) == (len(data), start, last)
            assert await read(stream) == data[start: last + 1]

    run(make(), scenario)


@pytest.mark.parametrize("length", [0, 1000, 300_000])
def test_a_known_size_put_returns_the_stores_etag_when_it_promised_one(make: Make, prefix: str,
                                                                       length: int) -> None:
    """The S3 backend hands back the upstream's ETag (SeaweedFS: the MD5), so the storage
    core need not hash the body; the file backend promises none and returns none."""
    data = blob(length)

    async def scenario(b: Backend) -> None:
        etag = await b.put(prefix + f"etag-{length}", body(data, 64 * 1024), size=length,
                           content_type="application/octet-stream", cache_control="no-cache")
        if b.etag_from_put(length):
            assert etag == f'"{hashlib.md5(data).hexdigest()}"'
        else:
            assert etag is None
        assert not b.etag_from_put(None)  # an unknown size may go in parts: the caller hashes

    run(make(), scenario)


@pytest.mark.parametrize("length", [0, 1, 5 * MiB - 1, 5 * MiB, 12 * MiB + 7])
def test_put_unknown_size(make: Make, prefix: str, length: int) -> None:
    data = blob(length)

    async def scenario(b: Backend) -> None:
        key = prefix + "unknown"
        await put(b, key, data, known=False)
        assert await b.size(key) == length
        assert await fetch(b, key) == data

    run(make(part_size=5 * MiB), scenario)


def test_put_odd_chunks_and_empty_known(make: Make, prefix: str) -> None:
    data = blob(11 * MiB + 3)

    async def scenario(b: Backend) -> None:
        await put(b, prefix + "odd", data, known=False, chunk=777_777)  # chunks straddle part borders
        assert await fetch(b, prefix + "odd") == data
        await put(b, prefix + "empty", b"")
        assert await b.size(prefix + "empty") == 0
        assert await fetch(b, prefix + "empty") == b""

    run(make(part_size=5 * MiB), scenario)


def test_missing_keys(make: Make, prefix: str) -> None:
    async def scenario(b: Backend) -> None:
        await missing(b.get(prefix + "nope"))
        await missing(b.get(prefix + "nope", start=3, end=9))
        await missing(b.size(prefix + "nope"))
        await missing(b.copy(prefix + "nope", prefix + "dest"))
        await missing(b.size(prefix + "dest"))

    run(make(), scenario)


@pytest.mark.parametrize("name", KEYS)
def test_awkward_keys(make: Make, prefix: str, name: str) -> None:
    data = blob(1000)

    async def scenario(b: Backend) -> None:
        key = prefix + name
        await put(b, key, data)
        assert await b.size(key) == 1000
        assert await fetch(b, key, 10, 19) == data[10:20]
        await b.copy(key, key + ".copy")
        assert await fetch(b, key + ".copy") == data
        await b.delete([key, key + ".copy"])
        await missing(b.size(key))
        await missing(b.size(key + ".copy"))

    run(make(), scenario)


def test_distinct_awkward_keys_stay_distinct(make: Make, prefix: str) -> None:
    async def scenario(b: Backend) -> None:
        for i, name in enumerate(KEYS):
            await put(b, prefix + name, str(i).encode())
        for i, name in enumerate(KEYS):
            assert await fetch(b, prefix + name) == str(i).encode()

    run(make(), scenario)


def test_copy_and_delete(make: Make, prefix: str) -> None:
    data = blob(70_000)

    async def scenario(b: Backend) -> None:
        await put(b, prefix + "src", data)
        await b.copy(prefix + "src", prefix + "dst")
        await b.delete([prefix + "src"])
        assert await fetch(b, prefix + "dst") == data
        await b.delete([prefix + "dst", prefix + "never-was", prefix + "dst"])
        await b.delete([])
        await missing(b.size(prefix + "dst"))

    run(make(), scenario)


def test_delete_more_than_one_batch(make: Make, prefix: str) -> None:
    async def scenario(b: Backend) -> None:
        keep = [prefix + f"k{i}" for i in (0, 999, 1000, 1200)]
        for key in keep:
            await put(b, key, b"x")
        await b.delete([prefix + f"k{i}" for i in range(1201)])
        for key in keep:
            await missing(b.size(key))

    run(make(), scenario)


def test_multipart_upload(make: Make, prefix: str) -> None:
    part1, part2, source = blob(5 * MiB), blob(123), blob(6 * MiB)

    async def scenario(b: Backend) -> None:
        key = prefix + "multi part ü+%"
        await put(b, prefix + "source", source)
        upload = await b.create_multipart(key, content_type="text/plain", cache_control="no-cache")
        p1 = await b.upload_part(key, upload, 1, body(part1), size=len(part1))
        p2 = await b.upload_part_copy(key, upload, 2, prefix + "source", MiB, 6 * MiB - 1)
        p3 = await b.upload_part(key, upload, 3, body(part2), size=len(part2))
        assert [p.part_number for p in (p1, p2, p3)] == [1, 2, 3]
        await b.complete_multipart(key, upload, [p1, p2, p3])
        assert await fetch(b, key) == part1 + source[MiB:] + part2
        assert await fetch(b, key, 5 * MiB - 2, 5 * MiB + 1) == part1[-2:] + source[MiB: MiB + 2]

    run(make(), scenario)


def test_complete_returns_the_stores_etag_when_it_promised_one(make: Make, prefix: str) -> None:
    """TUS keeps the store's ETag of an assembled upload, as Supabase does: the s3 backend
    returns the upstream's (S3's multipart form, md5 of the part md5s, for SeaweedFS),
    the file backend promises none and returns none."""
    part1, part2 = blob(5 * MiB), blob(1000)

    async def scenario(b: Backend) -> None:
        key = prefix + "assembled"
        upload = await b.create_multipart(key, content_type="", cache_control="")
        parts = [await b.upload_part(key, upload, n, body(data), size=len(data))
                 for n, data in ((1, part1), (2, part2))]
        etag = await b.complete_multipart(key, upload, parts)
        if b.etag_from_complete():
            digest = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest()
            assert etag == f'"{digest}-2"'
        else:
            assert etag is None
        assert await fetch(b, key) == part1 + part2

    run(make(), scenario)


def test_multipart_abort(make: Make, prefix: str) -> None:
    async def scenario(b: Backend) -> None:
        key = prefix + "aborted"
        upload = await b.create_multipart(key, content_type="", cache_control="")
        await b.upload_part(key, upload, 1, body(b"abc"), size=3)
        await b.abort_multipart(key, upload)
        await b.abort_multipart(key, upload)  # twice: unknown uploads are no error
        await missing(b.upload_part(key, upload, 2, body(b"abc"), size=3), "NoSuchUpload")
        await missing(b.size(key))

    run(make(), scenario)


@pytest.mark.parametrize("known", [True, False])
def test_failing_body_leaves_nothing(make: Make, prefix: str, known: bool,
                                     request: pytest.FixtureRequest) -> None:
    data = blob(12 * MiB)

    async def scenario(b: Backend) -> None:
        key = prefix + "broken"
        with pytest.raises(RuntimeError, match="went away"):
            await b.put(key, body(data, fail_at=11 * MiB), size=len(data) if known else None,
                        content_type="", cache_control="")
        with pytest.raises(errors.Error) as info:  # declared longer than it is
            await b.put(key, body(data[:1000]), size=2000, content_type="", cache_control="")
        assert info.value.code == "IncompleteBody"
        await missing(b.size(key))
        await missing(b.get(key))

    backend = make(part_size=5 * MiB)
    run(backend, scenario)
    if isinstance(backend, S3Backend):
        client = request.getfixturevalue("upstream").client()
        uploads = client.list_multipart_uploads(Bucket=backend.bucket, Prefix=prefix).get("Uploads", [])
        assert uploads == []


def test_abandoned_download_is_released(make: Make, prefix: str) -> None:
    data = blob(8 * MiB)

    async def scenario(b: Backend) -> None:
        await put(b, prefix + "big", data)
        for _ in range(3):
            stream = await b.get(prefix + "big")
            first = await anext(stream.chunks)
            assert data.startswith(first)
            await stream.aclose()
        unread = await b.get(prefix + "big", start=5)  # never iterated at all
        await unread.aclose()
        assert await fetch(b, prefix + "big", 100, 199) == data[100:200]

    run(make(), scenario)


# the S3 backend only


@pytest.fixture
def s3(upstream: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> Make:
    return s3_factory(upstream, monkeypatch)


def test_s3_passes_content_headers(s3: Make, prefix: str, upstream: SeaweedFS) -> None:
    async def scenario(b: Backend) -> None:
        await b.put(prefix + "typed", body(b"hello"), size=5, content_type="text/x-test",
                    cache_control="max-age=123")
        await b.put(prefix + "typed-stream", body(blob(6 * MiB)), size=None, content_type="text/x-test",
                    cache_control="max-age=123")

    run(s3(), scenario)
    client = upstream.client()
    for key in ("typed", "typed-stream"):
        head = client.head_object(Bucket=upstream.bucket, Key=prefix + key)
        assert head["ContentType"] == "text/x-test"
        assert head["CacheControl"] == "max-age=123"


def test_s3_large_copy_goes_multipart(s3: Make, prefix: str) -> None:
    data = blob(12 * MiB + 1)
    backend = s3(part_size=5 * MiB)
    assert isinstance(backend, S3Backend)
    backend._copy_limit = 6 * MiB  # exercise UploadPartCopy without a 5 GiB object

    async def scenario(b: Backend) -> None:
        await put(b, prefix + "large", data)
        await b.copy(prefix + "large", prefix + "large copy")
        assert await fetch(b, prefix + "large copy") == data

    run(backend, scenario)


def test_s3_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    backend = S3Backend(bucket="b", endpoint=f"http://127.0.0.1:{free_port()}", force_path_style=True)

    async def scenario(b: Backend) -> None:
        for call in (b.get("k"), b.size("k"), b.delete(["k"]), put(b, "k", b"abc"),
                     put(b, "k", b"abc", known=False), b.create_multipart("k", content_type="", cache_control="")):
            await missing(call, "BackendUnavailable")

    run(backend, scenario)


def test_s3_urls_are_canonically_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    key = "a b/+%?#é~x.-_"
    virtual = S3Backend(bucket="data", endpoint="https://s3.example.com", force_path_style=False)
    assert virtual._url(key, None) == "https://data.s3.example.com/a%20b/%2B%25%3F%23%C3%A9~x.-_"
    path = S3Backend(bucket="data", endpoint="http://127.0.0.1:9000/", force_path_style=True)
    assert path._url(key, {"uploadId": "a+b/c", "partNumber": "2"}) == (
        "http://127.0.0.1:9000/data/a%20b/%2B%25%3F%23%C3%A9~x.-_?partNumber=2&uploadId=a%2Bb%2Fc")
    assert path._url("", {"delete": ""}) == "http://127.0.0.1:9000/data?delete="
    assert S3Backend(bucket="d", endpoint="minio:9000")._url("k", None) == "https://minio:9000/d/k"
    aws = S3Backend(bucket="data", region="eu-west-1", force_path_style=False)
    assert aws._url("k", None) == "https://data.s3.eu-west-1.amazonaws.com/k"


def test_s3_download_has_backpressure_and_frees_its_connection(s3: Make, prefix: str) -> None:
    data = blob(32 * MiB)
    backend = s3()
    assert isinstance(backend, S3Backend)
    backend._max_clients = 1  # an abandoned download must give its only connection back

    async def scenario(b: Backend) -> None:
        await put(b, prefix + "big", data)
        stream = await b.get(prefix + "big")
        await asyncio.sleep(0.5)
        chunks = stream.chunks
        assert isinstance(chunks, _Chunks)
        assert not chunks._task.done()  # a slow reader holds the upstream read back
        assert chunks._dl.queue.qsize() <= QUEUE_DEPTH
        first = await anext(chunks)
        await stream.aclose()
        assert data.startswith(first)
        assert await asyncio.wait_for(b.size(prefix + "big"), 10) == len(data)
        assert await asyncio.wait_for(fetch(b, prefix + "big"), 30) == data

    run(backend, scenario)


def test_s3_a_range_read_to_its_length_keeps_its_connection(s3: Make, prefix: str) -> None:
    """UploadPartCopy reads its source range exactly to its length and closes the stream
    without waiting for the end of the response. The response is whole by then, so the
    connection must go back to the pool, not be dropped mid-message (issue 15 §2: the
    upstream logged `connection reset by peer` during copies)."""
    data = blob(12 * MiB)
    backend = s3()
    assert isinstance(backend, S3Backend)

    async def scenario(b: Backend) -> None:
        assert isinstance(b, S3Backend)
        await put(b, prefix + "src", data)
        assert await fetch(b, prefix + "src", 0, 0) == data[:1]
        pool = b._http().pool
        opened = pool.opened
        for start, end in ((0, 5 * MiB - 1), (5 * MiB, 12 * MiB - 1), (3, 7 * MiB), (100, 199)):
            stream = await b.get(prefix + "src", start=start, end=end)
            got = bytearray()
            while len(got) < end - start + 1:
                got += await anext(stream.chunks)
            await stream.aclose()
            assert got == data[start:end + 1]
            assert await fetch(b, prefix + "src", 1, 1) == data[1:2]
        assert pool.opened == opened  # every read left its connection reusable

    run(backend, scenario)


def test_s3_cancelled_put_frees_its_connection(s3: Make, prefix: str) -> None:
    backend = s3()
    assert isinstance(backend, S3Backend)
    backend._max_clients = 1
    cancelled: list[bool] = []

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def scenario(b: Backend) -> None:
        for size in (5000, None):
            task = asyncio.ensure_future(b.put(prefix + "stalled", stalled(), size=size, content_type="",
                                               cache_control=""))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await missing(asyncio.wait_for(b.size(prefix + "stalled"), 10))
        assert cancelled == [True, True]

    run(backend, scenario)


# the S3 backend against a scripted upstream, for answers SeaweedFS never gives


class _Fake(RequestHandler):
    """Scripted upstream: each path misbehaves its own way; `seen` logs the requests."""

    seen: list[str] = []
    in_flight = peak = 0
    stored = 0  # bytes of parts fully received

    async def put(self, path: str) -> None:
        cls = type(self)
        source = self.request.headers.get("x-amz-copy-source")
        if source is not None:  # a copy from ".../flaky" fails once; ".../gone" and ".../broken" always
            self.seen.append(f"COPY {source}")
            if source.endswith(("gone", "broken")) or source.endswith("flaky") and self.seen.count(f"COPY {source}") == 1:
                self.set_status(500)
                self.write("<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>")
            else:
                self.write("<CopyObjectResult><ETag>&quot;c&quot;</ETag></CopyObjectResult>")
            return
        cls.in_flight += 1
        cls.peak = max(cls.peak, cls.in_flight)
        await asyncio.sleep(0.05)
        cls.in_flight -= 1
        cls.stored += len(self.request.body)
        self.set_header("ETag", f'"{self.get_argument("partNumber", "")}"')

    def head(self, path: str) -> None:
        """3 bytes, except a ".../gone" source once it has been looked at (a copy deleted it)."""
        self.seen.append(f"HEAD {path}")
        if path.endswith("gone") and self.seen.count(f"HEAD {path}") > 1:
            self.set_status(404)
            return
        self.set_header("Content-Length", "3")

    async def get(self, path: str) -> None:
        self.seen.append(f"GET {path} {self.request.headers.get('Range', '')}")
        data = bytes(range(256)) * 4
        if path.endswith("truncated"):  # promises 1024 bytes, sends 500, hangs up
            self.set_header("Content-Length", "1024")
            self.write(data[:500])
            await self.flush()
            self.request.connection.close()  # type: ignore[union-attr]
            return
        self.write(data)  # ignores Range: the whole object with 200

    def post(self, path: str) -> None:
        self.seen.append(f"POST {path} {self.request.query}")
        if self.request.query == "uploads=":
            self.write("<InitiateMultipartUploadResult><UploadId>up+1/=</UploadId></InitiateMultipartUploadResult>")
        elif path.endswith("/parts"):
            self.write("<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>")
        elif self.request.query == "delete=":
            self.set_status(501)
            self.write("<Error><Code>NotImplemented</Code><Message>no</Message></Error>")
        else:  # CompleteMultipartUpload answering 200 with an error document
            self.write('<?xml version="1.0"?>\n<Error><Code>InternalError</Code><Message>bad</Message></Error>')

    def delete(self, path: str) -> None:
        self.seen.append(f"DELETE {path}")
        self.set_status(404 if path.endswith("missing") else 204)


def with_fake(monkeypatch: pytest.MonkeyPatch, scenario: Callable[[Backend], Awaitable[None]]) -> list[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    _Fake.seen, _Fake.in_flight, _Fake.peak, _Fake.stored = [], 0, 0, 0
    sock, port = bind_unused_port()
    backend = S3Backend(bucket="b", endpoint=f"http://127.0.0.1:{port}", force_path_style=True, part_size=MiB)

    async def serve(b: Backend) -> None:
        server = HTTPServer(Application([(r"/b(.*)", _Fake)]))
        server.add_sockets([sock])
        try:
            await scenario(b)
        finally:
            server.stop()

    run(backend, serve)
    return _Fake.seen


def test_s3_truncated_download_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(b: Backend) -> None:
        stream = await b.get("truncated")
        with pytest.raises(errors.Error) as info:
            await read(stream)
        assert info.value.code in ("BackendUnavailable", "BackendError")

    with_fake(monkeypatch, scenario)


def test_s3_range_ignored_by_upstream_is_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 4

    async def scenario(b: Backend) -> None:
        for start, end in [(0, None), (10, 19), (1000, None), (0, 0), (5, 1023)]:
            stream = await b.get("whole", start=start, end=end)
            last = 1023 if end is None else end
            assert (stream.size, stream.start, stream.end) == (1024, start, last)
            assert await read(stream) == data[start: last + 1]

    seen = with_fake(monkeypatch, scenario)
    assert "GET /whole bytes=10-19" in seen
    assert "GET /whole " in seen  # no Range header for the whole object


def test_s3_delete_falls_back_to_single_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(b: Backend) -> None:
        await b.delete(["one", "two/missing"])
        await b.delete(["three"])  # remembered: no second DeleteObjects attempt

    seen = with_fake(monkeypatch, scenario)
    assert seen.count("POST  delete=") == 1
    assert sorted(s for s in seen if s.startswith("DELETE")) == ["DELETE /one", "DELETE /three",
                                                                 "DELETE /two/missing"]


def test_s3_complete_with_error_body_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(b: Backend) -> None:
        with pytest.raises(errors.Error) as info:
            await b.complete_multipart("k", "upload", [PartInfo(1, '"etag"')])
        assert info.value.code == "BackendError"
        assert "InternalError" in info.value.message

    with_fake(monkeypatch, scenario)


def test_s3_copy_failing_upstream_retries_or_finds_its_source_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """SeaweedFS answers a copy whose source is deleted meanwhile with 500 InternalError:
    the backend tells that apart (NoSuchKey, which moves and copies handle by starting
    over) from a failure with the source in place (tried once more, then BackendError)."""
    async def scenario(b: Backend) -> None:
        await b.copy("copy/flaky", "dst/1")
        await missing(b.copy("copy/gone", "dst/2"))
        with pytest.raises(errors.BackendError):
            await b.copy("copy/broken", "dst/3")

    seen = with_fake(monkeypatch, scenario)
    copies = [s for s in seen if s.startswith("COPY")]
    assert copies == ["COPY /b/copy/flaky"] * 2 + ["COPY /b/copy/gone"] + ["COPY /b/copy/broken"] * 2


def test_s3_unknown_size_put_bounds_parts_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = 64 * 1024

    async def paced() -> AsyncIterator[bytes]:
        for sent in range(0, 10 * MiB + 5, chunk):
            # never more than two parts (plus the chunk being cut) read ahead of the upstream
            assert sent - _Fake.stored <= 2 * MiB + chunk
            yield b"z" * chunk

    async def scenario(b: Backend) -> None:
        await b.put("parts", paced(), size=None, content_type="", cache_control="")

    seen = with_fake(monkeypatch, scenario)
    assert _Fake.peak == 2
    assert seen[0] == "POST /parts uploads=" and seen[-1] == "POST /parts uploadId=up%2B1%2F%3D"
