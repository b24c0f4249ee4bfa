"""The upstream-S3 backend: blobs in one bucket of an S3-compatible store.

Why it is built this way:
- botocore only signs (SigV4, credentials from its default chain, refreshed per
  request through `get_frozen_credentials`); tornado's curl-free client carries the
  bytes. boto3 would need a thread per request and buffers bodies; here a body is
  an async iterator written with `await write(chunk)` and a download is read through
  a `streaming_callback` that returns an awaitable, so both directions have
  backpressure and memory stays at a few chunks per request.
- URLs are built here, percent-encoded the way SigV4 canonicalizes them (everything
  but unreserved characters and `/`), and the exact string that is signed is the one
  sent: keys may hold any UTF-8, spaces, `+`, `%`, `?`, `#`.
- Small in-memory XML bodies are signed with their SHA-256; part and object bodies go
  as UNSIGNED-PAYLOAD, so hashing never holds up the event loop.
- A body of unknown length becomes a multipart upload (two parts in flight at most),
  aborted on any failure, so a failed put leaves nothing behind at its key.
- Tornado cannot cancel a fetch, so an abandoned download is ended by raising from its
  streaming callback, and a cancelled upload by cancelling the read of its body;
  either way the connection closes and its client slot is released.
- Connections are kept alive and reused (`http_pool.PooledHTTPClient`: tornado's simple
  client, which otherwise connects per request), except that a streamed body always
  starts on a new one, since it cannot be replayed if a reused connection was stale;
  so bodies up to SMALL_BODY are read into memory first and sent as bytes.
- Known limits: the client ignores HTTP(S)_PROXY; REQUEST_TIMEOUT caps how long one
  transfer may last.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from lxml import etree
from tornado.httpclient import HTTPClientError, HTTPResponse
from tornado.httputil import HTTPHeaders, HTTPInputError
from tornado.iostream import StreamClosedError

from s3proxy import errors, metrics
from s3proxy.backends.base import Backend, Body, ObjectStream, PartInfo, PendingUpload, StoredBlob
from s3proxy.backends.http_pool import PooledHTTPClient, PooledHTTPRequest

log = logging.getLogger(__name__)

MiB = 1024 * 1024
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 3600.0
COPY_LIMIT = 5 * 1024 * MiB  # CopyObject's maximum source size
COPY_ATTEMPTS = 2  # a copy that failed upstream with its source still there is sent again once
MAX_BODY = 5 * 1024 * 1024 * MiB + MiB  # S3's largest object, for tornado's body limit
SMALL_BODY = 64 * 1024  # known-size bodies up to this are buffered: replayable, unlike a stream
IN_FLIGHT = 2  # parts of one unknown-length put uploading at once
QUEUE_DEPTH = 4  # downloaded chunks buffered per open stream
DELETE_BATCH = 1000
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# upstream error codes that mean the same to our callers; anything else is BackendError
PASS_THROUGH: dict[str, type[errors.Error]] = {
    "NoSuchKey": errors.NoSuchKey, "NoSuchUpload": errors.NoSuchUpload, "InvalidPart": errors.InvalidPart,
    "InvalidPartOrder": errors.InvalidPartOrder, "EntityTooSmall": errors.EntityTooSmall,
    "InvalidRange": errors.InvalidRange, "PreconditionFailed": errors.PreconditionFailed,
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class _Signer(S3SigV4Auth):
    """SigV4 for S3 that hashes only bodies marked `sign_body` (small XML documents)."""

    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return bool(request.context.get("sign_body"))


class _Abandoned(HTTPInputError):
    """Raised into tornado's read loop to drop a download nobody reads any more (an
    HTTPInputError, so tornado closes the connection without logging an error)."""


def _query(params: dict[str, str]) -> str:
    """A canonical (sorted, fully encoded) query string, identical when signed and sent."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find(root: etree._Element, name: str) -> list[etree._Element]:
    """Elements of local name `name` anywhere under root, whatever their namespace."""
    return [el for el in root.iter() if _local(el.tag) == name]


def _text(root: etree._Element, name: str) -> str:
    found = _find(root, name)
    return (found[0].text or "") if found else ""


def _parse(body: bytes) -> etree._Element:
    """The XML document of a response body; an empty element when there is none."""
    try:
        return etree.fromstring(body, parser=_PARSER) if body else etree.Element("empty")
    except etree.XMLSyntaxError:
        return etree.Element("empty")


def _xml(tag: str, children: list[etree._Element]) -> bytes:
    root = etree.Element(f"{{{NS}}}{tag}", nsmap={None: NS})
    root.extend(children)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _element(tag: str, text: str | None = None, **fields: str) -> etree._Element:
    el = etree.Element(f"{{{NS}}}{tag}")
    el.text = text
    for name, value in fields.items():
        etree.SubElement(el, f"{{{NS}}}{name}").text = value
    return el


def _error(status: int, body: bytes | bytearray, what: str) -> errors.Error:
    root = _parse(bytes(body))
    code, message = _text(root, "Code"), _text(root, "Message")
    if code in PASS_THROUGH:
        return PASS_THROUGH[code](message or None)
    if status == 404 and not code:
        return errors.NoSuchKey()
    if status in (502, 503, 504) or code == "SlowDown":
        metrics.upstream_error(what, "unavailable")
        return errors.BackendUnavailable(f"upstream {what}: {status} {code} {message}".strip())
    metrics.upstream_error(what, "error")
    return errors.BackendError(f"upstream {what}: {status} {code} {message}".strip())


def _check(response: HTTPResponse, what: str) -> etree._Element:
    """The parsed XML body of a successful response; raises for an error status or for
    a 200 whose body is an <Error> (CopyObject, CompleteMultipartUpload do that)."""
    root = _parse(response.body)
    if not 200 <= response.code < 300 or _local(root.tag) == "Error":
        raise _error(response.code, response.body or b"", what)
    return root


def _etag(response: HTTPResponse) -> str | None:
    """The upstream's ETag for what it just stored, quoted as S3 sends it."""
    value = (response.headers.get("ETag") or "").strip()
    if not value:
        return None
    return value if value.startswith('"') else f'"{value}"'


def _extent(status: int, headers: HTTPHeaders, start: int, end: int | None) -> tuple[int, int, int, int]:
    """(object size, first byte, last byte, bytes to skip) of a 200 or 206 GET response."""
    try:
        if status == 206:
            span, _, total = headers.get("Content-Range", "").removeprefix("bytes ").partition("/")
            low, _, high = span.partition("-")
            return int(total), int(low), int(high), 0
        size = int(headers.get("Content-Length", "0"))  # the whole object, perhaps despite a Range
        return size, start, size - 1 if end is None else min(end, size - 1), start
    except ValueError as exc:
        raise errors.BackendError(f"upstream GetObject: bad headers {dict(headers)}") from exc


def _when(text: str) -> datetime:
    """An S3 timestamp (`2024-01-01T00:00:00.000Z`); now when missing or unreadable, so
    that `sweep` takes the item for a fresh one and leaves it alone."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def _content_headers(content_type: str, cache_control: str) -> dict[str, str]:
    return {k: v for k, v in (("Content-Type", content_type), ("Cache-Control", cache_control)) if v}


def _consume(future: asyncio.Future[HTTPResponse]) -> None:
    """Mark the outcome of a fetch nobody awaits any more as retrieved."""
    if not future.cancelled():
        future.exception()


class _Producer:
    """A tornado body_producer: writes `size` bytes of `body`, awaiting every write.
    A failure of the body itself is remembered, to be re-raised as is. `stop()` cancels
    the read of the body, which ends the request: tornado cannot cancel a fetch."""

    def __init__(self, body: Body, size: int) -> None:
        self.body, self.size = body, size
        self.error: BaseException | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._stopped = False

    async def __call__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self._feeder = asyncio.ensure_future(self._feed(write))
        try:
            await self._feeder
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            raise errors.IncompleteBody("Upload cancelled") from None  # tornado closes on Exception

    def stop(self) -> None:
        self._stopped = True
        if self._feeder is not None:
            self._feeder.cancel()

    async def _feed(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        sent = 0
        iterator = aiter(self.body)
        while True:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except Exception as exc:
                self.error = exc
                raise
            sent += len(chunk)
            if sent > self.size:
                break
            await write(chunk)
        if sent != self.size:
            self.error = errors.IncompleteBody()
            raise self.error


class _Download:
    """Glue from tornado's header/streaming callbacks to an async iterator of chunks."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(QUEUE_DEPTH)
        self.headers_ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.status = 0
        self.headers = HTTPHeaders()
        self.error_body = bytearray()
        self.abandoned = False

    def on_headers(self, status: int, headers: HTTPHeaders) -> None:
        self.status, self.headers = status, headers
        if status >= 200 and not self.headers_ready.done():
            self.headers_ready.set_result(None)

    def on_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        if self.abandoned:
            raise _Abandoned()
        if self.status >= 300:
            if len(self.error_body) < 64 * 1024:
                self.error_body += chunk
            return None
        return self.queue.put(chunk)  # tornado awaits it: a full queue pauses the read

    async def pump(self, fetch: Awaitable[HTTPResponse]) -> None:
        item: BaseException | None = None
        try:
            await fetch
        except Exception as exc:  # noqa: BLE001 - handed to the reader
            item = exc
        if not self.headers_ready.done():
            self.headers_ready.set_result(None)
        await self.queue.put(item)


class _Chunks:
    """The async iterator of an ObjectStream; `aclose` drops the fetch at any point."""

    def __init__(self, download: _Download, task: asyncio.Task[None], skip: int, length: int,
                 trimming: bool) -> None:
        self._dl, self._task = download, task
        self._skip, self._remaining, self._trimming = skip, length, trimming

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._remaining == 0 and self._trimming:  # upstream ignored Range: enough read
                await self.aclose()
                raise StopAsyncIteration
            item = await self._dl.queue.get()
            if item is None:
                if self._remaining > 0:
                    raise errors.BackendError("upstream body ended early")
                raise StopAsyncIteration
            if isinstance(item, BaseException):
                raise item
            if self._skip:
                cut = min(self._skip, len(item))
                item, self._skip = item[cut:], self._skip - cut
            item = item[: self._remaining]
            self._remaining -= len(item)
            if item:
                return item

    async def aclose(self) -> None:
        if self._task.done():
            return
        self._dl.abandoned = True
        while not self._dl.queue.empty():  # unblock a pending put; the next chunk then aborts
            self._dl.queue.get_nowait()
        self._task.cancel()


class _PartReader:
    """Cuts a body into parts of exactly `size` bytes (the last one shorter)."""

    def __init__(self, body: Body, size: int) -> None:
        self._it, self._size = aiter(body), size
        self._rest = b""  # what the last chunk had beyond the previous part

    async def next(self) -> bytes:
        chunks: list[bytes] = []
        have = 0
        while have < self._size:
            if not self._rest:
                try:
                    self._rest = await anext(self._it)
                except StopAsyncIteration:
                    break
            take = self._rest[: self._size - have]
            self._rest = self._rest[len(take):]
            chunks.append(take)
            have += len(take)
        return b"".join(chunks)


class S3Backend(Backend):
    """Blobs as objects of `bucket`; data keys are used as object keys unchanged."""

    def __init__(self, *, bucket: str, endpoint: str | None = None, region: str = "us-east-1",
                 force_path_style: bool = True, part_size: int = 16 * MiB, max_clients: int = 100,
                 ca_bundle: str | None = None) -> None:
        self.bucket, self.region, self.part_size = bucket, region, part_size
        endpoint = endpoint or f"https://s3.{region}.amazonaws.com"
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        virtual = not force_path_style and "." not in bucket  # dotted names break TLS host names
        netloc = f"{bucket}.{parts.netloc}" if virtual else parts.netloc
        self._base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self._prefix = "/" if virtual else f"/{quote(bucket, '~')}/"
        self._host = netloc
        self._credentials = botocore.session.get_session().get_credentials()
        if self._credentials is None:
            log.warning("no AWS credentials found; upstream requests go unsigned")
        self._ca_certs = ca_bundle  # AWS_CA_BUNDLE, through Settings
        self._max_clients = max_clients
        self._client: PooledHTTPClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._copy_limit = COPY_LIMIT
        self._bulk_delete = True
        self._background: set[asyncio.Task[None]] = set()

    # transport

    def _http(self) -> PooledHTTPClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # a client is bound to its loop
            if self._client is not None:
                self._client.close()  # drops the idle connections it keeps
            self._client = PooledHTTPClient(force_instance=True, max_clients=self._max_clients,
                                            max_body_size=MAX_BODY)
            self._client_loop = loop
        return self._client

    def _url(self, key: str, query: dict[str, str] | None) -> str:
        qs = _query(query) if query else ""
        path = self._prefix + quote(key, "/~") if key else (self._prefix.rstrip("/") or "/")
        return self._base + path + (f"?{qs}" if qs else "")

    def _sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        headers = {"Host": self._host, **headers}
        if self._credentials is None:
            return headers
        request = AWSRequest(method=method, url=url, headers=headers, data=body or b"")
        request.context["sign_body"] = body is not None
        _Signer(self._credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        return dict(request.headers.items())

    async def _fetch(self, method: str, key: str, *, query: dict[str, str] | None = None,
                     headers: dict[str, str] | None = None, body: bytes | None = None,
                     sign_body: bool = False, producer: _Producer | None = None,
                     download: _Download | None = None) -> HTTPResponse:
        url = self._url(key, query)
        if body is None and producer is None and method in ("PUT", "POST"):
            body = b""
        request = PooledHTTPRequest(
            url, method=method, headers=self._sign(method, url, headers or {}, body if sign_body else None),
            body=body, body_producer=cast(Any, producer),  # tornado types write() as returning None
            streaming_callback=download.on_chunk if download else None,
            headers_callback=download.on_headers if download else None,
            connect_timeout=CONNECT_TIMEOUT, request_timeout=REQUEST_TIMEOUT, follow_redirects=False,
            decompress_response=False, ca_certs=self._ca_certs)
        future = self._http().fetch(request, raise_error=False)
        future.add_done_callback(_consume)
        try:  # shielded: a cancelled tornado future logs an error when its request ends later
            return await asyncio.shield(future)
        except BaseException as exc:
            if producer is not None and producer.error is not None:
                raise producer.error from None
            if producer is not None:
                producer.stop()
            if isinstance(exc, OSError | StreamClosedError | HTTPClientError):
                metrics.upstream_error("connection", "unavailable")
                raise errors.BackendUnavailable(f"upstream {self._host}: {exc}") from exc
            raise

    # blobs

    def etag_from_put(self, size: int | None) -> bool:
        return size is not None  # one PutObject, whose ETag is the upstream's (a body of unknown size may go in parts)

    async def put(self, key: str, body: Body, *, size: int | None, content_type: str,
                  cache_control: str) -> str | None:
        headers = _content_headers(content_type, cache_control)
        if size is not None and size <= SMALL_BODY:  # in memory, so it may ride a kept-alive connection
            data = await _PartReader(body, size + 1).next()
            if len(data) != size:
                raise errors.IncompleteBody()
            response = await self._fetch("PUT", key, headers=headers, body=data)
            _check(response, "PutObject")
            return _etag(response)
        if size is not None:
            producer = _Producer(body, size)
            response = await self._fetch("PUT", key, headers={**headers, "Content-Length": str(size)},
                                         producer=producer)
            _check(response, "PutObject")
            return _etag(response)
        reader = _PartReader(body, self.part_size)
        first = await reader.next()
        if len(first) < self.part_size:  # all of it fits in one request
            _check(await self._fetch("PUT", key, headers=headers, body=first), "PutObject")
            return None
        upload_id = await self.create_multipart(key, content_type=content_type, cache_control=cache_control)
        try:
            parts = await self._upload_parts(key, upload_id, first, reader)
            await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            await self._abort_quietly(key, upload_id)
            raise
        return None

    async def _upload_parts(self, key: str, upload_id: str, data: bytes, reader: _PartReader) -> list[PartInfo]:
        done: list[PartInfo] = []
        pending: set[asyncio.Task[PartInfo]] = set()
        number = 1
        try:
            while data:
                pending.add(asyncio.ensure_future(self._part_bytes(key, upload_id, number, data)))
                data, number = b"", number + 1
                if len(pending) >= IN_FLIGHT:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    done += [task.result() for task in finished]
                data = await reader.next()
            done += await asyncio.gather(*pending)
        except BaseException:
            if pending:  # a tornado request cannot be cancelled: let the parts settle before the abort
                await asyncio.wait(pending, timeout=30)
                for task in pending:
                    if task.done() and not task.cancelled():
                        task.exception()
            raise
        return sorted(done, key=lambda part: part.part_number)

    async def _part_bytes(self, key: str, upload_id: str, number: int, data: bytes) -> PartInfo:
        query = {"partNumber": str(number), "uploadId": upload_id}
        response = await self._fetch("PUT", key, query=query, body=data)
        _check(response, "UploadPart")
        return PartInfo(number, response.headers.get("ETag", ""))

    async def _abort_quietly(self, key: str, upload_id: str) -> None:
        task = asyncio.ensure_future(self.abort_multipart(key, upload_id))
        self._background.add(task)  # survives our own cancellation
        task.add_done_callback(self._background.discard)
        try:
            await asyncio.shield(task)
        except Exception as exc:  # noqa: BLE001 - the original failure matters more
            log.warning("could not abort upload %s of %s: %s", upload_id, key, exc)

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectStream:
        headers = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end}"}
        download = _Download()
        task = asyncio.ensure_future(download.pump(self._fetch("GET", key, headers=headers, download=download)))
        chunks: _Chunks | None = None
        try:
            await download.headers_ready
            if download.status == 0 or download.status >= 300:
                await task
                failure = download.queue.get_nowait()
                if isinstance(failure, BaseException):
                    raise failure
                raise _error(download.status, download.error_body, "GetObject")
            size, first, last, skip = _extent(download.status, download.headers, start, end)
            trimming = download.status == 200 and (skip > 0 or last < size - 1)
            chunks = _Chunks(download, task, skip, last - first + 1, trimming)
            return ObjectStream(size=size, start=first, end=last, chunks=chunks)
        finally:
            if chunks is None and not task.done():
                task.cancel()

    async def _head(self, key: str) -> HTTPHeaders:
        response = await self._fetch("HEAD", key)
        _check(response, "HeadObject")
        return response.headers

    async def size(self, key: str) -> int:
        return int((await self._head(key)).get("Content-Length", "0"))

    def _copy_source(self, key: str) -> str:
        return "/" + quote(self.bucket, "~") + "/" + quote(key, "/~")

    async def copy(self, source: str, destination: str) -> None:
        head = await self._head(source)
        size = int(head.get("Content-Length", "0"))
        if size <= self._copy_limit:
            await self._copy_request("CopyObject", source, destination, {})
            return
        upload_id = await self.create_multipart(destination, content_type=head.get("Content-Type", ""),
                                                cache_control=head.get("Cache-Control", ""))
        try:
            step = max(self.part_size, -(-size // 10_000))
            parts = [await self.upload_part_copy(destination, upload_id, n + 1, source, low, min(low + step, size) - 1)
                     for n, low in enumerate(range(0, size, step))]
            await self.complete_multipart(destination, upload_id, parts)
        except BaseException:
            await self._abort_quietly(destination, upload_id)
            raise

    async def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i: i + DELETE_BATCH]
            if not (self._bulk_delete and await self._delete_batch(batch)):
                await self._delete_each(batch)

    async def _delete_batch(self, keys: list[str]) -> bool:
        """DeleteObjects; False when the upstream does not support it."""
        body = _xml("Delete", [_element("Quiet", "true"), *(_element("Object", Key=k) for k in keys)])
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        response = await self._fetch("POST", "", query={"delete": ""}, body=body, sign_body=True,
                                     headers={"Content-MD5": md5, "Content-Type": "application/xml"})
        if response.code in (400, 405, 501):
            log.warning("upstream rejected DeleteObjects (%s); deleting keys one by one", response.code)
            self._bulk_delete = False
            return False
        root = _check(response, "DeleteObjects")
        for error in _find(root, "Error"):
            if _text(error, "Code") != "NoSuchKey":
                raise errors.BackendError(f"upstream DeleteObjects: {_text(error, 'Key')}: "
                                   f"{_text(error, 'Code')} {_text(error, 'Message')}")
        return True

    async def _delete_each(self, keys: list[str]) -> None:
        limit = asyncio.Semaphore(8)

        async def one(key: str) -> None:
            async with limit:
                response = await self._fetch("DELETE", key)
            if response.code != 404:
                _check(response, "DeleteObject")

        await asyncio.gather(*(one(key) for key in keys))

    # multipart

    async def create_multipart(self, key: str, *, content_type: str, cache_control: str) -> str:
        headers = _content_headers(content_type, cache_control)
        root = _check(await self._fetch("POST", key, query={"uploads": ""}, headers=headers),
                      "CreateMultipartUpload")
        upload_id = _text(root, "UploadId")
        if not upload_id:
            raise errors.BackendError("upstream CreateMultipartUpload: no UploadId")
        return upload_id

    async def upload_part(self, key: str, upload_id: str, part_number: int, body: Body, *,
                          size: int) -> PartInfo:
        response = await self._fetch("PUT", key, query={"partNumber": str(part_number), "uploadId": upload_id},
                                     headers={"Content-Length": str(size)}, producer=_Producer(body, size))
        _check(response, "UploadPart")
        return PartInfo(part_number, response.headers.get("ETag", ""))

    async def upload_part_copy(self, key: str, upload_id: str, part_number: int, source: str,
                               start: int, end: int) -> PartInfo:
        root = await self._copy_request("UploadPartCopy", source, key,
                                        {"partNumber": str(part_number), "uploadId": upload_id},
                                        {"x-amz-copy-source-range": f"bytes={start}-{end}"})
        return PartInfo(part_number, _text(root, "ETag"))

    async def _copy_request(self, what: str, source: str, destination: str, query: dict[str, str],
                            headers: dict[str, str] | None = None) -> etree._Element:
        """A CopyObject or UploadPartCopy from `source`. SeaweedFS answers 500 InternalError
        when the source is deleted while it is copied, where the caller needs NoSuchKey (a
        move or copy then starts over from the row's new version); AWS asks for a retry of
        a 500. So a failed copy looks at its source: gone is NoSuchKey, there is one more try."""
        headers = {"x-amz-copy-source": self._copy_source(source), **(headers or {})}
        for attempt in range(COPY_ATTEMPTS):
            response = await self._fetch("PUT", destination, query=query, headers=headers)
            try:
                return _check(response, what)
            except errors.BackendError:
                await self._head(source)  # NoSuchKey when the source is gone
                if attempt == COPY_ATTEMPTS - 1:
                    raise
                log.warning("upstream %s failed with its source in place; trying again", what)
        raise AssertionError("unreachable")

    def etag_from_complete(self) -> bool:
        return True

    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> str | None:
        body = _xml("CompleteMultipartUpload",
                    [_element("Part", PartNumber=str(p.part_number), ETag=p.etag) for p in parts])
        response = await self._fetch("POST", key, query={"uploadId": upload_id}, body=body, sign_body=True,
                                     headers={"Content-Type": "application/xml"})
        etag = _text(_check(response, "CompleteMultipartUpload"), "ETag").strip()
        if not etag:  # not every store says it there; the object's own header does
            etag = (await self._head(key)).get("ETag", "").strip()
        if not etag:
            raise errors.BackendError("upstream CompleteMultipartUpload: no ETag")
        return etag if etag.startswith('"') else f'"{etag}"'

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        response = await self._fetch("DELETE", key, query={"uploadId": upload_id})
        if response.code == 404:
            return
        _check(response, "AbortMultipartUpload")

    # readiness and listing

    async def ping(self) -> None:
        """HEAD of the upstream bucket: reachable, signed requests accepted, bucket there."""
        response = await self._fetch("HEAD", "")
        if not 200 <= response.code < 300:
            raise _error(response.code, b"", "HeadBucket")

    async def list_blobs(self, prefix: str) -> AsyncIterator[StoredBlob]:
        """ListObjectsV2, 1,000 keys a page."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            root = _check(await self._fetch("GET", "", query=query), "ListObjectsV2")
            for item in _find(root, "Contents"):
                key = _text(item, "Key")
                yield StoredBlob(key, key, int(_text(item, "Size") or 0), _when(_text(item, "LastModified")))
            token = _text(root, "NextContinuationToken")
            if _text(root, "IsTruncated") != "true" or not token:
                return

    async def list_uploads(self, prefix: str) -> AsyncIterator[PendingUpload]:
        """ListMultipartUploads, paged by key and upload id markers."""
        markers: dict[str, str] = {}
        while True:
            root = _check(await self._fetch("GET", "", query={"uploads": "", "prefix": prefix, **markers}),
                          "ListMultipartUploads")
            for item in _find(root, "Upload"):
                yield PendingUpload(_text(item, "Key"), _text(item, "UploadId"), _when(_text(item, "Initiated")))
            markers = {"key-marker": _text(root, "NextKeyMarker"),
                       "upload-id-marker": _text(root, "NextUploadIdMarker")}
            if _text(root, "IsTruncated") != "true" or not markers["key-marker"]:
                return

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
