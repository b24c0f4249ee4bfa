"""Decoding and verifying S3 request bodies while they stream.

`aws-chunked` (`x-amz-content-sha256: STREAMING-...`) frames the body as
`hex-size[;chunk-signature=sig]\\r\\n data \\r\\n ... 0[;chunk-signature=sig]\\r\\n
[trailer lines\\r\\n] \\r\\n`. Signed variants chain one HMAC per chunk from the seed
signature of the request, and the `-TRAILER` variant signs the trailer block too.

A chunk's signature can only be checked once its last byte has arrived, yet a chunk may
be 16 MiB: buffering it would make memory per request scale with the client's chunk
size. So data is yielded as soon as it arrives, and any failure (bad signature, short
body, wrong length, checksum mismatch) raises from the iterator *before* it finishes.
That is safe because of the contract of the consumer: the storage layer writes bytes to
a fresh version key and commits the metadata row only after the iterator is exhausted;
on an exception it deletes that version. Nothing unverified ever becomes visible.

`RequestBody` is what the S3 handler uses: it picks the decoding from the verified
payload hash, checks a declared sha256, Content-MD5 and x-amz-checksum-* (header or
trailer), and exposes the decoded length and the computed checksums.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence

from s3proxy import errors
from s3proxy.auth.checksums import ChecksumVerifier
from s3proxy.auth.sigv4 import (
    EMPTY_SHA256,
    AuthResult,
    ContentSha256,
    PayloadMode,
    chunk_string_to_sign,
    payload_mode,
    sign,
    trailer_string_to_sign,
)

MAX_CHUNK = 16 * 1024 * 1024
_MAX_LINE = 4096
_MAX_TRAILER = 16 * 1024
_SIZE = re.compile(rb"^[0-9a-fA-F]{1,16}$")
_SIG = re.compile(rb"^chunk-signature=([0-9a-f]{64})$")


def _incomplete(message: str = "The request body terminated unexpectedly") -> errors.Error:
    return errors.IncompleteBody(message)


def _bad(message: str) -> errors.Error:
    return errors.InvalidRequest(message)


class _Reader:
    """A byte cursor over an async iterator of pieces; copies only what it must."""

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._it = source.__aiter__()
        self._buf = b""
        self._pos = 0

    async def _fill(self) -> bool:
        while True:
            try:
                piece = await self._it.__anext__()
            except StopAsyncIteration:
                return False
            if piece:
                rest = self._buf[self._pos:]
                self._buf = rest + bytes(piece) if rest else bytes(piece)
                self._pos = 0
                return True

    async def line(self, limit: int = _MAX_LINE) -> bytes | None:
        """The next CRLF-terminated line without its CRLF; None at a clean end of stream."""
        while True:
            end = self._buf.find(b"\r\n", self._pos, self._pos + limit + 2)
            if end >= 0:
                if end - self._pos > limit:
                    raise _bad("aws-chunked line too long")
                line = self._buf[self._pos:end]
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > limit:
                raise _bad("aws-chunked line too long")
            if not await self._fill():
                if self._pos >= len(self._buf):
                    return None
                raise _incomplete()

    async def take(self, n: int) -> bytes:
        """Between 1 and n bytes; IncompleteBody at the end of stream."""
        if self._pos >= len(self._buf) and not await self._fill():
            raise _incomplete()
        end = min(len(self._buf), self._pos + n)
        piece = self._buf if self._pos == 0 and end == len(self._buf) else self._buf[self._pos:end]
        self._pos = end
        return piece

    async def crlf(self) -> None:
        while len(self._buf) - self._pos < 2:
            if not await self._fill():
                raise _incomplete()
        if self._buf[self._pos:self._pos + 2] != b"\r\n":
            raise _bad("aws-chunked chunk data is not followed by CRLF")
        self._pos += 2

    async def at_end(self) -> bool:
        return self._pos >= len(self._buf) and not await self._fill()


class AwsChunkedDecoder:
    """Async-iterate to get the decoded bytes; `trailers` is filled once iteration ends.

    signed: chunk signatures are required and checked against `auth` (seed signature).
    trailer: a trailer block is expected (default: when `trailer_names` is non-empty);
      with `signed`, it must end with a valid x-amz-trailer-signature.
    trailer_names: the x-amz-trailer names; each must be sent, no others may be.
    decoded_length: x-amz-decoded-content-length; the decoded size must equal it.
    """

    def __init__(self, source: AsyncIterable[bytes], *, signed: bool, auth: AuthResult | None,
                 trailer_names: Sequence[str] = (), decoded_length: int | None = None,
                 max_chunk: int = MAX_CHUNK, trailer: bool | None = None) -> None:
        if signed and auth is None:
            raise ValueError("signed aws-chunked decoding needs the AuthResult")
        self._source = source
        self.signed = signed
        self.auth = auth
        self.trailer_names = [n.strip().lower() for n in trailer_names if n.strip()]
        self.expect_trailer = bool(self.trailer_names) if trailer is None else trailer
        self.decoded_length = decoded_length
        self.max_chunk = max_chunk
        self.trailers: dict[str, str] = {}
        self.decoded_bytes = 0
        self.complete = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._decode()

    async def _decode(self) -> AsyncIterator[bytes]:
        reader = _Reader(self._source)
        previous = self.auth.seed_signature if self.auth is not None else ""
        while True:
            line = await reader.line()
            if line is None:
                raise _incomplete()
            size, signature = self._chunk_header(line)
            if size == 0:
                break
            digest = hashlib.sha256() if self.signed else None
            remaining = size
            while remaining:
                piece = await reader.take(remaining)
                remaining -= len(piece)
                self.decoded_bytes += len(piece)
                if self.decoded_length is not None and self.decoded_bytes > self.decoded_length:
                    raise _incomplete("The decoded body is longer than x-amz-decoded-content-length")
                if digest is not None:
                    digest.update(piece)
                yield piece
            await reader.crlf()
            if digest is not None:
                previous = self._check_chunk(previous, signature, digest.hexdigest())
        if self.signed:
            previous = self._check_chunk(previous, signature, EMPTY_SHA256)
        await self._read_trailers(reader, previous)
        if not await reader.at_end():
            raise _bad("Unexpected data after the end of the aws-chunked body")
        if self.decoded_length is not None and self.decoded_bytes != self.decoded_length:
            raise _incomplete("The decoded body is shorter than x-amz-decoded-content-length")
        self.complete = True

    def _chunk_header(self, line: bytes) -> tuple[int, str]:
        size_raw, _, extension = line.partition(b";")
        if not _SIZE.match(size_raw):
            raise _bad("Invalid aws-chunked chunk header")
        size = int(size_raw, 16)
        if size > self.max_chunk:
            raise _bad(f"aws-chunked chunk of {size} bytes exceeds the maximum of {self.max_chunk}")
        if not self.signed:
            return size, ""
        match = _SIG.match(extension)
        if match is None:
            raise _bad("aws-chunked chunk is missing a valid chunk-signature")
        return size, match.group(1).decode()

    def _check_chunk(self, previous: str, signature: str, chunk_sha: str) -> str:
        assert self.auth is not None
        expected = sign(self.auth.signing_key, chunk_string_to_sign(self.auth, previous, chunk_sha))
        if not hmac.compare_digest(expected, signature):
            raise errors.SignatureDoesNotMatch()
        return signature

    async def _read_trailers(self, reader: _Reader, previous: str) -> None:
        canonical = bytearray()
        trailer_signature: str | None = None
        total = 0
        while True:
            line = await reader.line()
            if line is None or line == b"":
                break  # EOF right after the last line is accepted (some SDKs omit the final CRLF)
            total += len(line)
            if total > _MAX_TRAILER or not self.expect_trailer or trailer_signature is not None:
                raise _bad("Unexpected or malformed aws-chunked trailer")
            name_raw, colon, value_raw = line.partition(b":")
            if not colon:
                raise _bad("Malformed aws-chunked trailer line")
            name = name_raw.decode("latin-1").strip().lower()
            value = value_raw.decode("latin-1").strip()
            if name == "x-amz-trailer-signature" and self.signed:
                trailer_signature = value
                continue
            if name not in self.trailer_names or name in self.trailers:
                raise _bad(f"The trailer {name} was not declared in x-amz-trailer")
            self.trailers[name] = value
            canonical += f"{name}:{value}\n".encode("latin-1")
        missing = [n for n in self.trailer_names if n not in self.trailers]
        if missing:
            raise _bad("Declared trailers were not sent: " + ", ".join(missing))
        if self.signed and self.expect_trailer:
            assert self.auth is not None
            if trailer_signature is None:
                raise errors.SignatureDoesNotMatch("The aws-chunked trailer signature is missing")
            sts = trailer_string_to_sign(self.auth, previous, hashlib.sha256(canonical).hexdigest())
            if not hmac.compare_digest(sign(self.auth.signing_key, sts), trailer_signature):
                raise errors.SignatureDoesNotMatch()


def stored_content_encoding(value: str | None) -> str | None:
    """Content-Encoding to store: `aws-chunked` is transport framing, not the object's."""
    if value is None:
        return None
    kept = [v.strip() for v in value.split(",") if v.strip() and v.strip().lower() != "aws-chunked"]
    return ", ".join(kept) or None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise errors.InvalidArgument(f"Invalid {name} header")
    return int(raw)


class RequestBody:
    """An S3 request body, decoded and verified while it streams.

    Construct it before reading a byte: header problems (malformed checksums or
    Content-MD5, bad decoded length) raise here. Then `async for piece in body` yields
    the object's bytes; every verification failure raises from the iteration before it
    ends. Afterwards `checksums` holds the computed {algorithm: base64} values and
    `trailers` the aws-chunked trailers. `length` is the object size when known up front
    (x-amz-decoded-content-length, else Content-Length), None otherwise.
    """

    def __init__(self, source: AsyncIterable[bytes], *, auth: AuthResult | None,
                 headers: Mapping[str, str], max_chunk: int = MAX_CHUNK) -> None:
        declared = auth.payload_hash if auth is not None else headers.get("x-amz-content-sha256")
        self.mode = payload_mode(declared) if declared else PayloadMode.UNSIGNED
        signed = self.mode in (PayloadMode.CHUNKED_SIGNED, PayloadMode.CHUNKED_SIGNED_TRAILER)
        if signed and auth is None:
            raise errors.AccessDenied("A signed aws-chunked body needs a signed request")
        chunked = signed or self.mode is PayloadMode.CHUNKED_UNSIGNED_TRAILER
        trailer_names = [n.strip().lower() for n in headers.get("x-amz-trailer", "").split(",") if n.strip()]
        self.verifier = ChecksumVerifier.from_headers(headers, trailer_names if chunked else ())
        self._sha = ContentSha256(declared) if self.mode is PayloadMode.SHA256 and declared else None
        self.decoder: AwsChunkedDecoder | None = None
        if chunked:
            self.length = _int_header(headers, "x-amz-decoded-content-length")
            self.decoder = AwsChunkedDecoder(
                source, signed=signed, auth=auth, trailer_names=trailer_names, decoded_length=self.length,
                max_chunk=max_chunk, trailer=self.mode is not PayloadMode.CHUNKED_SIGNED)
        else:
            self.length = _int_header(headers, "content-length")
        self._source: AsyncIterable[bytes] = self.decoder if self.decoder is not None else source
        self.checksums: dict[str, str] = {}
        self.size = 0

    @property
    def trailers(self) -> dict[str, str]:
        return self.decoder.trailers if self.decoder is not None else {}

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        async for piece in self._source:
            self.size += len(piece)
            if self._sha is not None:
                self._sha.update(piece)
            self.verifier.update(piece)
            if self.decoder is None and self.length is not None and self.size > self.length:
                raise _incomplete("The body is longer than Content-Length")
            yield piece
        if self.decoder is None and self.length is not None and self.size != self.length:
            raise _incomplete()
        if self._sha is not None:
            self._sha.verify()
        self.checksums = self.verifier.finish(self.trailers)
