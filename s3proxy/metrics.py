"""Prometheus metrics, summed over the worker processes.

Each worker counts in its own memory-mapped files in one directory
(prometheus_client's multiprocess mode), and `GET /metrics`, answered by whichever
worker the kernel hands the scrape to, reads all of them: one scrape is the whole
server. The supervisor owns the directory (`prepare_directory`): a fixed path per
port on a tmpfs (`/dev/shm`) or the temp folder, emptied at start so counts of an
earlier run (or of a killed one) never leak into this one, and removed at exit; when
a worker dies its live gauges are dropped (`forget_process`), its counters kept, so
totals never go backwards. prometheus_client is imported only by `enable()`, in the
workers, so commands and the supervisor stay without it.

What is counted (labels in brackets):
- `s3proxy_requests_total` [protocol, operation, status]: finished requests; the
  status is the outcome's own (a REST error's envelope status, which Supabase sends
  with HTTP 400), 499 when the client left before the answer;
- `s3proxy_request_duration_seconds` [protocol, operation]: latency histogram;
- `s3proxy_received_bytes_total`, `s3proxy_sent_bytes_total` [protocol, operation];
- `s3proxy_requests_in_flight` [protocol]: requests being served now;
- `s3proxy_db_pool_waits_total`, `s3proxy_db_pool_wait_seconds`: requests that found
  every pooled connection busy, and how long they waited (db/slots.py);
- `s3proxy_upstream_errors_total` [call, kind]: failed upstream calls of the s3
  backend, `unavailable` (connection, 502-504, SlowDown) or `error` (anything else
  unexpected); expected answers (NoSuchKey...) are not counted;
- `s3proxy_resident_memory_bytes`: the workers' summed RSS, sampled every few
  seconds (prometheus_client's process metrics see one process only);
- `s3proxy_image_renders_total`: renders the image engine ran.
"""

from __future__ import annotations

import getpass
import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3proxy.config import export_to_libraries

if TYPE_CHECKING:
    from s3proxy.web.access import Access

log = logging.getLogger("s3proxy.metrics")
_directory: Path | None = None  # set in the supervisor, inherited by the workers

ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus_client looks for the directory
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


# --- the directory (supervisor) ---------------------------------------------------------


def default_directory(port: int) -> Path:
    """A tmpfs when there is one (files written on every request), else the temp folder;
    one per user and port, so a restart finds (and empties) its predecessor's."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return base / f"s3proxy-metrics-{user}-{port}"


def prepare_directory(configured: str, port: int) -> Path | None:
    """Create (or empty) the directory and point prometheus_client at it; None when it
    cannot be had, and each worker then counts only its own requests."""
    global _directory
    path = Path(configured) if configured else default_directory(port)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
    except OSError as exc:
        log.warning("metrics directory %s unusable (%s): each scrape shows one worker only", path, exc.strerror)
        return None
    export_to_libraries(ENV, str(path))
    _directory = path
    return path


def remove_directory(path: Path | None, configured: str) -> None:
    """At the supervisor's exit: the default directory goes, a configured one is emptied."""
    if path is None:
        return
    if configured:
        for old in path.glob("*.db"):
            old.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def forget_process(pid: int) -> None:
    """A worker died: its in-flight gauge must not count any more (as prometheus_client's
    `mark_process_dead`, without importing it into the supervisor)."""
    if _directory is not None:
        for live in glob.glob(os.path.join(_directory, f"gauge_live*_{pid}.db")):
            try:
                os.remove(live)
            except OSError:
                pass


# --- counting (workers) -----------------------------------------------------------------


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("s3proxy_requests", "Finished requests", ["protocol", "operation", "status"])
        self.duration = Histogram("s3proxy_request_duration_seconds", "Time from the request's start to its end",
                                  ["protocol", "operation"], buckets=LATENCY_BUCKETS)
        self.received = Counter("s3proxy_received_bytes", "Request body bytes received", ["protocol", "operation"])
        self.sent = Counter("s3proxy_sent_bytes", "Response body bytes sent", ["protocol", "operation"])
        self.in_flight = Gauge("s3proxy_requests_in_flight", "Requests being served", ["protocol"],
                               multiprocess_mode="livesum")
        self.pool_waits = Counter("s3proxy_db_pool_waits", "Requests that waited for a database connection")
        self.pool_wait = Histogram("s3proxy_db_pool_wait_seconds", "Time waited for a database connection",
                                   buckets=WAIT_BUCKETS)
        self.upstream_errors = Counter("s3proxy_upstream_errors", "Failed calls to the upstream S3 store",
                                       ["call", "kind"])
        self.memory = Gauge("s3proxy_resident_memory_bytes", "Resident memory of the workers",
                            multiprocess_mode="livesum")
        self.renders = Counter("s3proxy_image_renders", "Image renders the engine ran (not counting requests "
                               "dropped while they waited)")
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: prometheus_client takes a lock per lookup."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


_active: _Metrics | None = None


def enable() -> None:
    """Start counting in this process (a worker, after its fork)."""
    global _active
    if _active is None:
        _active = _Metrics()


def enabled() -> bool:
    return _active is not None


def request_started(protocol: str) -> None:
    if _active is not None:
        _active.child(_active.in_flight, protocol).inc()


def request_finished(access: Access, was_started: bool) -> None:
    m = _active
    if m is None:
        return
    operation = access.operation or "unknown"
    status = str(access.error_status or access.status)
    if was_started:
        m.child(m.in_flight, access.protocol).dec()
    m.child(m.requests, access.protocol, operation, status).inc()
    m.child(m.duration, access.protocol, operation).observe(access.duration_ms / 1000)
    if access.bytes_in:
        m.child(m.received, access.protocol, operation).inc(access.bytes_in)
    if access.bytes_out:
        m.child(m.sent, access.protocol, operation).inc(access.bytes_out)


def pool_waited(seconds: float) -> None:
    if _active is not None:
        _active.pool_waits.inc()
        _active.pool_wait.observe(seconds)


def upstream_error(call: str, kind: str) -> None:
    if _active is not None:
        _active.child(_active.upstream_errors, call, kind).inc()


def image_rendered() -> None:
    if _active is not None:
        _active.renders.inc()


def sample_memory() -> None:
    """This worker's RSS into the summed gauge (Linux; nothing elsewhere)."""
    if _active is None:
        return
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return
    _active.memory.set(pages * os.sysconf("SC_PAGE_SIZE"))


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type: every worker's counts when the
    directory is set, else this process's."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if _directory is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(_directory))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
