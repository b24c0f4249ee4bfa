"""The streaming form reader: boundaries split across chunks anywhere, fields, files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from s3proxy import errors
from s3proxy.rest.multipart_form import FormReader, form_boundary

BOUNDARY = b"----xYz123"
CONTENT = b"line one\r\n------xYz12 not quite\r\n--\r\n" * 50


def form(*, closed: bool = True) -> bytes:
    body = (
        b"preamble\r\n--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="cacheControl"\r\n\r\n3600\r\n--' + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: image/png\r\n\r\n'
        + CONTENT + b"\r\n--" + BOUNDARY
    )
    return body + (b"--\r\n" if closed else b"")


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read(data: bytes, size: int) -> tuple[dict[str, bytes], str | None, str | None, bytes]:
    reader = FormReader(chunks(data, size), BOUNDARY)
    fields: dict[str, bytes] = {}
    while (part := await reader.next_part()) is not None and not part.is_file:
        fields[part.name] = await reader.read_field(1024)
    assert part is not None
    content = b"".join([c async for c in reader.content()])
    assert await reader.next_part() is None
    return fields, part.filename, part.content_type, content


@pytest.mark.parametrize("size", [1, 2, 3, 7, 11, 64, 4096])
def test_any_chunking(size: int) -> None:
    fields, filename, content_type, content = asyncio.run(read(form(), size))
    assert fields == {"cacheControl": b"3600"}
    assert (filename, content_type) == ("a.bin", "image/png")
    assert content == CONTENT


def test_truncated_body_fails() -> None:
    data = form()
    with pytest.raises(errors.Error):
        asyncio.run(read(data[: len(data) // 2], 5))


def test_boundary_from_content_type() -> None:
    assert form_boundary('multipart/form-data; boundary="abc"') == b"abc"
    assert form_boundary("application/octet-stream") is None
    with pytest.raises(errors.Error):
        form_boundary("multipart/form-data")
