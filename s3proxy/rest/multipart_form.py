"""An incremental multipart/form-data reader for uploads.

tornado's `parse_body_arguments` needs the whole body in memory; an upload form can
carry gigabytes, so this reader works on the stream instead: it yields each part's
headers, then the part's content as chunks, holding at most one chunk plus a
boundary's length of look-ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from tornado.httputil import _parse_header

from s3proxy import errors

MAX_PART_HEADERS = 16 * 1024


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, None for other types."""
    kind, params = _parse_header(content_type or "")
    if kind.lower() != "multipart/form-data":
        return None
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise errors.InvalidRequest("Invalid multipart boundary")
    return boundary.encode("latin1")


def _part_headers(text: str) -> dict[str, str]:
    """A part's headers by lower-case name. Not tornado's parser: clients put UTF-8 file
    names in Content-Disposition, which HTTP header rules (and tornado) reject."""
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _bad()
        headers[name.strip().lower()] = value.strip()
    return headers


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None

    @property
    def is_file(self) -> bool:
        return self.filename is not None


def _bad(message: str = "Malformed multipart/form-data body") -> errors.Error:
    return errors.InvalidRequest(message)


class FormReader:
    """Reads parts in order: `await next_part()`, then `content()` or `read_field()`."""

    def __init__(self, source: AsyncIterator[bytes], boundary: bytes) -> None:
        self._source = source
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # so the first boundary looks like every other one
        self._eof = False
        self._done = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = await anext(self._source)
        except StopAsyncIteration:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def _skip_to_delimiter(self) -> None:
        """Discard bytes up to and including the next delimiter."""
        while True:
            at = self._buf.find(self._delimiter)
            if at >= 0:
                del self._buf[: at + len(self._delimiter)]
                return
            keep = len(self._delimiter) - 1
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            if not await self._fill():
                raise _bad("No content provided")

    async def _line_end(self) -> None:
        """After a delimiter: `--` ends the form, CRLF starts a part."""
        while len(self._buf) < 2:
            if not await self._fill():
                raise _bad()
        if self._buf[:2] == b"--":
            self._done = True
            return
        while True:
            at = self._buf.find(b"\r\n")
            if at >= 0:
                if self._buf[:at].strip(b" \t"):
                    raise _bad()
                del self._buf[: at + 2]
                return
            if len(self._buf) > 1024 or not await self._fill():
                raise _bad()

    async def next_part(self) -> Part | None:
        """The next part's headers, or None at the end of the form."""
        if self._done:
            return None
        await self._skip_to_delimiter()
        await self._line_end()
        if self._done:
            return None
        while (at := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > MAX_PART_HEADERS or not await self._fill():
                raise _bad()
        headers = _part_headers(self._buf[:at].decode("utf-8", "replace"))
        del self._buf[: at + 4]
        disposition, params = _parse_header(headers.get("content-disposition", ""))
        if disposition.lower() != "form-data":
            raise _bad()
        return Part(name=params.get("name", ""), filename=params.get("filename"),
                    content_type=headers.get("content-type"))

    async def content(self) -> AsyncIterator[bytes]:
        """The current part's bytes, streamed; stops at the next delimiter (left in place)."""
        keep = len(self._delimiter) - 1
        while True:
            at = self._buf.find(self._delimiter)
            if at >= 0:
                if at:
                    data = bytes(self._buf[:at])
                    del self._buf[:at]
                    yield data
                return
            if len(self._buf) > keep:
                data = bytes(self._buf[: len(self._buf) - keep])
                del self._buf[: len(self._buf) - keep]
                yield data
            if not await self._fill():
                raise errors.IncompleteBody("The upload ended before the form was complete")

    async def read_field(self, limit: int) -> bytes:
        """A small field's value; EntityTooLarge past `limit` bytes."""
        value = bytearray()
        async for chunk in self.content():
            value += chunk
            if len(value) > limit:
                raise errors.EntityTooLarge("The object exceeded the maximum allowed size")
        return bytes(value)
