"""The access log: one line per request, with what really happened.

tornado's own access line shows the HTTP status and the request line. That hides
the outcome of a REST error (Supabase answers most of them with HTTP 400 and the
real status in the body) and says nothing of what was asked: here each line carries
the protocol, the operation name (the `storage.operation` RLS sees, or the S3
operation), bucket and key, the error code and its own status, bytes in and out,
the duration and the request id the client saw in its response headers.

Text lines read `STATUS METHOD TARGET [CODE(status)] op=… bucket=… key=… in=… out=…
12.3ms id=…`; with LOG_FORMAT=json the same facts are fields of the record. The query
string is written with its credentials redacted (redact.py). Answers below 400 log
at INFO, 4xx at WARNING and 5xx at ERROR, as tornado does, so LOG_LEVEL=warning keeps
only the failures.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from s3proxy.redact import redact_uri

if TYPE_CHECKING:
    from s3proxy.web.handler import StreamingHandler

access_log = logging.getLogger("s3proxy.access")

_SAFE = "/!$&'()*+,;=:@-._~"  # left readable in keys; spaces, controls and non-ASCII are escaped


@dataclass(frozen=True)
class Access:
    """One finished request, as logged and counted (metrics.py)."""

    protocol: str  # "rest" | "s3"
    method: str
    path: str  # the request target, query redacted
    status: int  # the HTTP status sent
    error: str | None  # the protocol's error code
    error_status: int | None  # the error's own status, when the HTTP one differs (REST)
    operation: str | None
    bucket: str | None
    key: str | None
    bytes_in: int
    bytes_out: int
    duration_ms: float
    request_id: str
    remote: str | None
    aborted: bool  # the connection closed before the answer was complete


CLIENT_LEFT = 499  # nginx's status for a request its client abandoned before any answer


def describe(handler: StreamingHandler, *, aborted: bool = False) -> Access:
    request = handler.request
    status = handler.get_status() if handler._headers_written or not aborted else CLIENT_LEFT
    error_status = handler.error_status if handler.error_status not in (None, status) else None
    return Access(
        protocol=handler.protocol,
        method=request.method or "",
        path=redact_uri(request.uri or ""),
        status=status,
        error=handler.error_code,
        error_status=error_status,
        operation=handler.operation or None,
        bucket=handler.bucket,
        key=handler.key,
        bytes_in=handler.bytes_in,
        bytes_out=handler.bytes_out,
        duration_ms=round(request.request_time() * 1000, 1),
        request_id=handler.request_id,
        remote=request.remote_ip,
        aborted=aborted,
    )


def level_of(status: int) -> int:
    return logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR


def text(access: Access) -> str:
    """The line's message; `quote` keeps keys on one line whatever they hold."""
    parts = [str(access.status), access.method, quote(access.path, safe=_SAFE + "?%")]
    if access.error:
        parts.append(access.error + (f"({access.error_status})" if access.error_status else ""))
    parts.append(f"{access.protocol}:{access.operation or '-'}")
    if access.bucket is not None:
        parts.append("bucket=" + quote(access.bucket, safe=_SAFE))
    if access.key is not None:
        parts.append("key=" + quote(access.key, safe=_SAFE))
    parts += [f"in={access.bytes_in}", f"out={access.bytes_out}", f"{access.duration_ms}ms",
              f"id={access.request_id}"]
    if access.aborted:
        parts.append("aborted")
    return " ".join(parts)


def log_access(access: Access) -> None:
    level = level_of(access.status)
    if access_log.isEnabledFor(level):
        access_log.log(level, "%s", text(access), extra=asdict(access))
