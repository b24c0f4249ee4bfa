"""Big bodies read in big pieces: only when announced as big, without touching the
parameters other connections of the same server share, and reset for the next request."""

from __future__ import annotations

from types import SimpleNamespace

from tornado.http1connection import HTTP1ConnectionParameters

from s3proxy.large_bodies import (
    DEFAULT_CHUNK,
    LARGE_BODY,
    LARGE_CHUNK,
    is_large,
    read_in_large_chunks,
    restore_read_size,
)


def test_only_announced_big_bodies_count_as_large() -> None:
    assert is_large(str(LARGE_BODY)) and is_large(str(10 * LARGE_BODY))
    assert not is_large(str(LARGE_BODY - 1))
    assert not is_large(None) and not is_large("") and not is_large("-5") and not is_large("1e9")


def test_a_server_connection_gets_its_own_parameters_and_its_stream_is_reset_after() -> None:
    shared = HTTP1ConnectionParameters()
    stream = SimpleNamespace(read_chunk_size=DEFAULT_CHUNK, max_buffer_size=64 * 1024 * 1024)
    big, other = SimpleNamespace(params=shared, stream=stream), SimpleNamespace(params=shared, stream=None)
    read_in_large_chunks(big, str(LARGE_BODY), shared_params=True)
    assert big.params.chunk_size == LARGE_CHUNK and stream.read_chunk_size == LARGE_CHUNK
    assert other.params.chunk_size == shared.chunk_size == 65536  # the server's other connections
    restore_read_size(stream)
    assert stream.read_chunk_size == DEFAULT_CHUNK
    restore_read_size(None)  # a connection already gone


def test_read_size_never_exceeds_half_the_buffer_limit() -> None:
    stream = SimpleNamespace(read_chunk_size=DEFAULT_CHUNK, max_buffer_size=LARGE_CHUNK)
    read_in_large_chunks(SimpleNamespace(params=HTTP1ConnectionParameters(), stream=stream), str(LARGE_BODY),
                         shared_params=False)
    assert stream.read_chunk_size == LARGE_CHUNK // 2
