"""Helpers for the TUS tests: raw protocol requests, a tuspy uploader, and a reverse
proxy that serves s3proxy under a path prefix with X-Forwarded-* headers."""

from __future__ import annotations

import base64
import http.client
import io
import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.rig import Server

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
RLS_DENIED = "new row violates row-level security policy"


def metadata(**values: object) -> str:
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in values.items())


def blob(size: int) -> bytes:
    return os.urandom(size)


class TusClient:
    """Raw TUS requests against one server (httpx; follows the Location URLs it gets)."""

    def __init__(self, server: Server, token: str | None = None, base: str | None = None) -> None:
        self.base = base or server.url
        self.http = httpx.Client(timeout=120, headers={**TUS, **server.headers(token)})

    def create(self, bucket: str, name: str, length: int | None, *, body: bytes | None = None, upsert: bool = False,
               path: str = "upload/resumable", headers: dict[str, str] | None = None,
               **meta: object) -> httpx.Response:
        h = {"Upload-Metadata": metadata(bucketName=bucket, objectName=name, **meta)}
        if length is None:
            h["Upload-Defer-Length"] = "1"
        else:
            h["Upload-Length"] = str(length)
        if upsert:
            h["x-upsert"] = "true"
        if body is not None:
            h["Content-Type"] = OFFSET_TYPE
        h.update(headers or {})
        return self.http.post(self.base + path, headers=h, content=body)

    def patch(self, url: str, offset: int, data: bytes, **headers: str) -> httpx.Response:
        h = {"Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, **headers}
        return self.http.patch(url, headers=h, content=data)

    def head(self, url: str) -> httpx.Response:
        return self.http.head(url)

    def delete(self, url: str) -> httpx.Response:
        return self.http.delete(url)

    def close(self) -> None:
        self.http.close()


def tuspy_uploader(endpoint: str, token: str, data: bytes, chunk_size: int, *, url: str | None = None,
                   headers: dict[str, str] | None = None, **meta: str) -> Any:
    """A tuspy uploader with the headers supabase-js documents."""
    from tusclient.client import TusClient as TuspyClient

    client = TuspyClient(endpoint, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    return client.uploader(file_stream=io.BytesIO(data), chunk_size=chunk_size, url=url, metadata=meta,
                           store_url=False)


# --- a reverse proxy: /storage/v1/* -> s3proxy /*, with X-Forwarded-* -------------------------


class PrefixProxy:
    """Serves `upstream` under `prefix` the way a gateway does: strips the prefix, and
    tells the upstream the client's view (X-Forwarded-Proto/Host/Prefix)."""

    def __init__(self, upstream: str, prefix: str = "/storage/v1", proto: str = "http") -> None:
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.seen.append((self.command, self.path))
                if not self.path.startswith(prefix + "/"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers.update({"X-Forwarded-Proto": proto, "X-Forwarded-Host": self.headers.get("Host", ""),
                                "X-Forwarded-Prefix": prefix})
                conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
                conn.request(self.command, self.path[len(prefix):], body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for name, value in resp.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_HEAD = do_DELETE = do_OPTIONS = do_PUT = _forward

        self.seen: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{prefix}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def raw_patch_cut(url: str, offset: int, declared: int, send: Iterator[bytes], token: str,
                  before_hanging_up: Callable[[], object] = lambda: None) -> None:
    """A PATCH that announces `declared` bytes, sends what `send` yields, then hangs up."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
        head = (f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                f"Authorization: Bearer {token}\r\nUpload-Offset: {offset}\r\nContent-Type: {OFFSET_TYPE}\r\n"
                f"Content-Length: {declared}\r\n\r\n")
        sock.sendall(head.encode())
        for chunk in send:
            sock.sendall(chunk)
        before_hanging_up()
        sock.shutdown(socket.SHUT_RDWR)
