"""Big bodies are read a megabyte at a time, in both directions of the proxy.

Tornado reads a body in 64 KiB pieces, and each piece costs the same event-loop turns
and calls whatever its size: through a queue, a hash and a write to the other side.
For a 1 GiB transfer that is 16,384 rounds, most of the proxy's CPU. Only bodies that
announce at least `LARGE_BODY` bytes are read in `LARGE_CHUNK` pieces: tornado
allocates a zeroed buffer of the whole read size for every recv, which a small request
should not pay for, and 1 MiB objects under load would each hold a megabyte buffer
(64 concurrent 1 MiB GETs raised the workers' RSS by about 30 MiB). The stream's read
size is put back afterwards, as a kept-alive connection serves small requests next.
"""

from __future__ import annotations

import copy
from typing import Any

LARGE_BODY = 4 * 1024 * 1024  # bodies of at least this many bytes are read in LARGE_CHUNK pieces
LARGE_CHUNK = 1024 * 1024
DEFAULT_CHUNK = 64 * 1024  # tornado's own read size


def is_large(content_length: str | None) -> bool:
    """Does this Content-Length announce a body worth reading in large pieces?"""
    return content_length is not None and content_length.isdigit() and int(content_length) >= LARGE_BODY


def read_in_large_chunks(connection: Any, content_length: str | None, *, shared_params: bool) -> None:
    """Make `connection` (a tornado HTTP1Connection) read its body in LARGE_CHUNK pieces
    when `content_length` announces a large one. A server's connections share one
    parameters object: give this one its own copy."""
    if not is_large(content_length):
        return
    if shared_params:
        connection.params = copy.copy(connection.params)
    connection.params.chunk_size = LARGE_CHUNK
    stream = connection.stream
    stream.read_chunk_size = min(LARGE_CHUNK, stream.max_buffer_size // 2)


def restore_read_size(stream: Any) -> None:
    """Back to tornado's read size, for whatever this kept-alive stream carries next."""
    if stream is not None:
        stream.read_chunk_size = min(DEFAULT_CHUNK, stream.max_buffer_size // 2)
