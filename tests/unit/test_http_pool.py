"""Keep-alive of PooledHTTPClient against a tiny scripted HTTP/1.1 server that counts
the connections it accepts; each path misbehaves its own way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httputil import HTTPInputError

from s3proxy.backends.http_pool import PooledHTTPClient, _idle_and_open
from s3proxy.large_bodies import LARGE_CHUNK

BIG = 4 * 1024 * 1024


class Upstream:
    """Answers `<connection number> <method> <path> <body length>` unless the path says otherwise."""

    def __init__(self) -> None:
        self.accepts = self.hangups = 0  # connections accepted / seen closed by the client
        self.requests: list[tuple[int, str, str]] = []
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        number, drop_next = self.accepts, False
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                except asyncio.IncompleteReadError:
                    self.hangups += 1
                    return
                if drop_next:  # closes as the next request arrives, as a server timing out idle ones may
                    return
                lines = head.split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("Content-Length", "0")))
                self.requests.append((number, method, path))
                if path.startswith("/slow"):
                    await asyncio.sleep(0.1)
                payload = b"x" * BIG if path == "/big" else f"{number} {method} {path} {len(body)}".encode()
                length = 100 if path == "/truncated" else len(payload)
                if method == "HEAD" and path != "/bad-head":  # /bad-head: a HEAD answer with a body
                    payload = b""
                close = "Connection: close\r\n" if path == "/close" else ""
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n{close}\r\n".encode() + payload)
                await writer.drain()
                if path in ("/close", "/hangup", "/truncated"):  # /hangup: a framed answer, then EOF
                    return
                drop_next = path == "/drop-next"
        except ConnectionError:
            return
        finally:
            writer.close()


def scenario(test: Callable[[Upstream, PooledHTTPClient], Awaitable[None]], **options: float) -> None:
    async def go() -> None:
        upstream = Upstream()
        await upstream.start()
        client = PooledHTTPClient(force_instance=True, max_clients=32, **options)
        try:
            await test(upstream, client)
        finally:
            client.close()
            upstream.server.close()

    asyncio.run(go())


async def get(client: PooledHTTPClient, url: str, **kwargs: object) -> HTTPResponse:
    return await client.fetch(HTTPRequest(url, **kwargs), raise_error=False)  # type: ignore[arg-type]


async def fails(client: PooledHTTPClient, url: str, **kwargs: object) -> None:
    with pytest.raises(HTTPClientError) as info:
        await get(client, url, **kwargs)
    assert info.value.code == 599


def test_sequential_requests_share_one_connection() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        for i in range(5):
            response = await get(client, up.url(f"/ok{i}"))
            assert response.body == f"1 GET /ok{i} 0".encode()
        response = await client.fetch(HTTPRequest(up.url("/post"), method="POST", body=b"abc"))
        assert response.body == b"1 POST /post 3"
        assert (await get(client, up.url("/head"), method="HEAD")).code == 200
        assert (await get(client, up.url("/after-head"))).body == b"1 GET /after-head 0"
        assert up.accepts == 1 and client.pool.opened == 1
        client.close()
        await asyncio.sleep(0.05)
        assert up.hangups == 1  # close() closes the pooled connection too

    scenario(test)


def test_concurrent_requests_never_share_a_connection() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        for wave in range(2):
            paths = [f"/slow-{wave}-{i}" for i in range(16)]
            responses = await asyncio.gather(*(get(client, up.url(p)) for p in paths))
            for path, response in zip(paths, responses, strict=True):
                assert response.code == 200 and response.body.decode().endswith(f" GET {path} 0")
            assert len({r.body.split()[0] for r in responses}) == 16  # one connection each
        assert up.accepts == 16  # the second wave reused the first wave's connections

    scenario(test)


def test_closed_idle_connection_is_replaced_before_use() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        assert (await get(client, up.url("/hangup"))).code == 200
        await asyncio.sleep(0.05)
        (stream, _), = next(iter(client.pool._idle.values()))
        assert not _idle_and_open(stream)  # the upstream's FIN makes it readable
        assert (await get(client, up.url("/ok"))).body == b"2 GET /ok 0"
        assert up.accepts == 2

    scenario(test)


def test_connection_dropped_as_it_is_reused_is_retried_once() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        assert (await get(client, up.url("/drop-next"))).code == 200
        response = await client.fetch(HTTPRequest(up.url("/post"), method="POST", body=b"abcd"))
        assert response.body == b"2 POST /post 4"
        assert up.requests == [(1, "GET", "/drop-next"), (2, "POST", "/post")]

    scenario(test)


def test_failure_after_response_bytes_is_not_retried() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        assert (await get(client, up.url("/ok"))).code == 200
        await fails(client, up.url("/truncated"))
        assert [path for _, _, path in up.requests] == ["/ok", "/truncated"]
        assert (await get(client, up.url("/ok"))).body == b"2 GET /ok 0"

    scenario(test)


def test_unclean_endings_are_not_reused() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        assert (await get(client, up.url("/close"))).code == 200  # Connection: close
        assert (await get(client, up.url("/ok"), headers={"Connection": "close"})).code == 200
        assert (await get(client, up.url("/ok"))).body == b"3 GET /ok 0"

        chunks: list[bytes] = []

        def abandon(chunk: bytes) -> None:  # as s3.py ends a download nobody reads any more
            chunks.append(chunk)
            raise HTTPInputError("abandoned")

        await fails(client, up.url("/big"), streaming_callback=abandon)
        assert chunks and client.pool._idle[next(iter(client.pool._idle))] == []
        assert (await get(client, up.url("/ok"))).body == b"4 GET /ok 0"
        assert (await get(client, up.url("/bad-head"), method="HEAD")).code == 200  # stray bytes follow
        assert (await get(client, up.url("/ok"))).body == b"5 GET /ok 0"
        assert up.accepts == 5

    scenario(test)


def test_streamed_body_starts_on_a_new_connection_and_streaming_reads_reuse() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
            for _ in range(3):
                await write(b"ab")

        assert (await get(client, up.url("/ok"))).code == 200
        request = HTTPRequest(up.url("/put"), method="PUT", body_producer=produce,  # type: ignore[arg-type]
                              headers={"Content-Length": "6"})
        assert (await client.fetch(request)).body == b"2 PUT /put 6"  # never on a maybe-stale connection
        received: list[bytes] = []

        async def slowly(chunk: bytes) -> None:
            received.append(chunk)
            await asyncio.sleep(0)

        assert (await get(client, up.url("/big"), streaming_callback=slowly)).code == 200
        assert sum(map(len, received)) == BIG
        assert (await get(client, up.url("/ok"))).code == 200
        assert up.accepts == 2

    scenario(test)


def test_expired_idle_connections_are_dropped() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        assert (await get(client, up.url("/ok"))).code == 200
        await asyncio.sleep(0.15)
        assert (await get(client, up.url("/ok"))).body == b"2 GET /ok 0"
        await asyncio.sleep(0.05)
        assert up.hangups == 1

    scenario(test, idle_timeout=0.1)


def test_large_bodies_are_read_in_large_chunks_and_small_ones_as_before() -> None:
    async def test(up: Upstream, client: PooledHTTPClient) -> None:
        received: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            received.append(chunk)
            await asyncio.sleep(0.001)  # let the upstream fill the socket buffers meanwhile

        assert (await get(client, up.url("/big"), streaming_callback=collect)).code == 200
        assert sum(map(len, received)) == BIG
        assert max(map(len, received)) > 64 * 1024  # tornado's default read size
        assert max(map(len, received)) <= LARGE_CHUNK
        [(stream, _)] = next(iter(client.pool._idle.values()))
        assert stream.read_chunk_size == 64 * 1024  # a small answer next on this stream reads as before
        received.clear()
        assert (await get(client, up.url("/small"), streaming_callback=collect)).code == 200
        assert received == [b"1 GET /small 0"] and up.accepts == 1

    scenario(test)
