"""A request body on its way from tornado to the operation reading it.

`data_received` puts each chunk into a `BodyChannel` and returns the put's future, so
tornado stops reading the socket while the channel is full: a slow backend slows the
client down (backpressure) and a request holds at most DEPTH chunks whatever the
body's size. The operation iterates the channel; the handler ends it when the body is
complete, fails it when the client goes away (the operation then raises, and the
storage core deletes what it had written), and closes it when the operation stopped
reading (later chunks are dropped).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping

DEPTH = 4  # chunks buffered between the socket and the operation


class BodyChannel:
    """A bounded async queue of body chunks, iterated once by the operation."""

    checksums: Mapping[str, str] = {}  # an UploadBody nobody checksums (see storage/streams.py)

    def __init__(self, depth: int = DEPTH) -> None:
        self._items: deque[bytes] = deque()
        self._depth = depth
        self._ended = False
        self._closed = False
        self._failure: BaseException | None = None
        self._changed = asyncio.Event()

    async def put(self, chunk: bytes) -> None:
        """Add a chunk, waiting while the channel is full."""
        while len(self._items) >= self._depth and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if not self._closed:
            self._items.append(chunk)
            self._changed.set()

    def end(self) -> None:
        """The body is complete: the reader stops after the chunks already in."""
        self._ended = True
        self._changed.set()

    def fail(self, error: BaseException) -> None:
        """The body will not complete: the reader raises `error` instead of ending."""
        if not self._ended:
            self._failure = error
        self._changed.set()

    def close(self) -> None:
        """The reader is gone: drop what is queued and whatever arrives."""
        self._closed = True
        self._items.clear()
        self._changed.set()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            if self._failure is not None:
                raise self._failure
            if self._items:
                chunk = self._items.popleft()
                self._changed.set()
                yield chunk
                continue
            if self._ended or self._closed:
                return
            self._changed.clear()
            await self._changed.wait()
