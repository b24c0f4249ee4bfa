"""A minimal HTTP/1.1 client for the large transfers: one request per connection.

Why not httpx: it reads a response 64 KiB at a time through h11 and joins the pieces
into the chunks it hands out, which cost the bench about a second of CPU per GiB
downloaded (0.5 to 0.7 of a core during the transfer, on a 2-core machine that also
runs the server, Postgres and SeaweedFS). Here a download is `recv_into` one
preallocated 1 MiB buffer and an upload `sendall` of one repeating buffer: the kernel's
copies and little else, as with curl, with nothing to install.

It speaks only what the bench needs: a request with a known Content-Length, and a
response with `Connection: close` whose body is either counted and dropped (a
download, which must carry Content-Length) or read whole (anything else: a small
JSON or XML document, kept for error messages).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

BUFFER = 1024 * 1024
MAX_HEAD = 64 * 1024


class TransferError(Exception):
    """The exchange broke off or the response was not HTTP."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes  # empty when the body was counted instead
    received: int  # body bytes received


def _connect(url: str, timeout: float) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock: socket.socket = socket.create_connection((parts.hostname or "", port), timeout=timeout)
    if parts.scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return sock, parts.netloc, target


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers, and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(BUFFER)
        if not piece:
            raise TransferError("connection closed before the response headers")
        data += piece
        if len(data) > MAX_HEAD and b"\r\n\r\n" not in data:
            raise TransferError("response headers too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise TransferError(f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(fields[1]), headers, rest


def request(method: str, url: str, headers: dict[str, str], *, body: Iterable[bytes] = (),
            body_size: int = 0, count_body: bool = False, timeout: float = 600) -> Response:
    """One exchange. `body` yields exactly `body_size` bytes; with `count_body`, a 2xx
    response's body is counted and dropped instead of kept."""
    sock, host, target = _connect(url, timeout)
    with sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
        if body_size or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {body_size}")
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (an error, most likely): read what it said
        status, response_headers, rest = _read_head(sock)
        if not count_body or status >= 300:
            chunks = [rest]
            while piece := sock.recv(BUFFER):
                chunks.append(piece)
            data = b"".join(chunks)
            return Response(status, response_headers, data, len(data))
        length = response_headers.get("content-length", "")
        if not length.isdigit():
            raise TransferError("a counted download needs a Content-Length")
        expected, received = int(length), len(rest)
        view = memoryview(bytearray(BUFFER))
        while received < expected:
            n = sock.recv_into(view, min(BUFFER, expected - received))
            if n == 0:
                break
            received += n
        return Response(status, response_headers, b"", received)
