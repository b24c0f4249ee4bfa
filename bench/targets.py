"""What the bench measures: endpoints (self-started or given by URL), presigning, RSS.

With no URL given, `start_targets` brings up the same parts as the test suite (via
tests/rig.py): one Postgres, one SeaweedFS, and one s3proxy per backend with 2 workers.
SeaweedFS itself is also a target: the direct-upstream baseline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import psutil

UPSTREAM = "upstream"


@dataclass
class Target:
    """One endpoint under test. The upstream baseline has only an S3 side."""

    name: str
    description: str
    rest_url: str | None = None  # REST base with a trailing slash
    s3_url: str | None = None
    service_jwt: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    bucket: str = "bench"
    database_url: str | None = None  # superuser access, to seed the listing bucket
    pids: list[int] = field(default_factory=list)  # processes whose RSS/CPU is the "server"

    @property
    def is_upstream(self) -> bool:
        return self.name == UPSTREAM

    def rest_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service_jwt}"} if self.service_jwt else {}

    def s3_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.s3_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                          retries={"max_attempts": 1}),
        )

    def presigned(self, operation: str, key: str | None = None, expires: int = 3600, **params: Any) -> str:
        """A botocore presigned URL for `operation` (get_object, list_objects_v2, ...)."""
        args: dict[str, Any] = {"Bucket": self.bucket, **params}
        if key is not None:
            args["Key"] = key
        return str(self.s3_client().generate_presigned_url(operation, Params=args, ExpiresIn=expires))


class FastPresigner:
    """SigV4 query presigning for many PUT URLs at once (~10 µs each instead of ~200 µs
    with botocore), checked against botocore's own output before use."""

    def __init__(self, target: Target, expires: int = 3600) -> None:
        assert target.s3_url and target.access_key and target.secret_key
        self.target = target
        self.expires = expires
        parts = urlsplit(target.s3_url)
        self.host = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.now = dt.datetime.now(dt.UTC)
        self._rekey()

    def _rekey(self) -> None:
        t = self.target
        self.amz_date = self.now.strftime("%Y%m%dT%H%M%SZ")
        day = self.amz_date[:8]
        self.scope = f"{day}/{t.region}/s3/aws4_request"
        key = hmac.new(f"AWS4{t.secret_key}".encode(), day.encode(), hashlib.sha256).digest()
        for part in (t.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self.signing_key = key

    def url(self, method: str, key: str | None, params: dict[str, str] | None = None) -> str:
        """Presigned path + query (no scheme/host) for `method` on `key` in the target bucket
        (None: the bucket itself), with extra query `params` (lower-case names, which sort
        after the X-Amz-* ones as SigV4's canonical query needs)."""
        target = f"{self.base_path}/{self.target.bucket}" + (f"/{key}" if key is not None else "")
        path = quote(target, safe="/-_.~")
        query = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={quote(f'{self.target.access_key}/{self.scope}', safe='-_.~')}"
            f"&X-Amz-Date={self.amz_date}&X-Amz-Expires={self.expires}&X-Amz-SignedHeaders=host"
        )
        for name, value in sorted((params or {}).items()):
            query += f"&{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        canonical = f"{method}\n{path}\n{query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = (f"AWS4-HMAC-SHA256\n{self.amz_date}\n{self.scope}\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        signature = hmac.new(self.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{path}?{query}&X-Amz-Signature={signature}"

    def check_against_botocore(self) -> None:
        """Raise if this signer disagrees with botocore for the same request and time."""
        reference = self.target.presigned("put_object", "bench/presign-check", expires=self.expires)
        parts = urlsplit(reference)
        date = dict(p.split("=", 1) for p in parts.query.split("&"))["X-Amz-Date"]
        self.now = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        self._rekey()
        mine = self.url("PUT", "bench/presign-check")
        path, _, query = mine.partition("?")
        # the order of the parameters is free (botocore's awscrt signer uses another)
        if (path, sorted(query.split("&"))) != (parts.path, sorted(parts.query.split("&"))):
            raise RuntimeError(f"fast presigner disagrees with botocore:\n{mine}\n{parts.path}?{parts.query}")


class ProcessSampler:
    """Sums RSS (and CPU time) of the server's processes and all their children every
    100 ms in a thread; `peak_mib` is the highest sum seen while running."""

    def __init__(self, pids: list[int], interval: float = 0.1) -> None:
        self.pids = pids
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu_start = 0.0
        self._cpu_end = 0.0
        self._t0 = 0.0
        self._t1 = 0.0
        self._machine_start = 0.0
        self._machine_end = 0.0

    def _tree(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
        return procs

    def _totals(self) -> tuple[int, float]:
        rss, cpu = 0, 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
        return rss, cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, self._cpu_end = self._totals()
            self.peak_bytes = max(self.peak_bytes, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessSampler:
        if self.pids:
            _, self._cpu_start = self._totals()
            self._machine_start = _machine_busy()
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._t1 = time.monotonic()
        self._machine_end = _machine_busy()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mib(self) -> float | None:
        return round(self.peak_bytes / 2**20, 1) if self.samples else None

    @property
    def cpu_cores(self) -> float | None:
        """Server CPU seconds per wall second over the sampled interval."""
        if not self.samples or self._t1 <= self._t0:
            return None
        return round(max(0.0, self._cpu_end - self._cpu_start) / (self._t1 - self._t0), 2)

    @property
    def machine_cpu_cores(self) -> float | None:
        """Busy cores of the whole machine over the same interval: next to the server's
        share it shows whether the run was CPU-bound and what Postgres, the upstream and
        the client took (everything on the machine that is not the server)."""
        if not self.samples or self._t1 <= self._t0:
            return None
        return round(max(0.0, self._machine_end - self._machine_start) / (self._t1 - self._t0), 2)


def _machine_busy() -> float:
    """CPU seconds the machine has spent on anything but idling, since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@contextlib.contextmanager
def start_targets(backends: list[str], workers: int, upstream: bool = True) -> Iterator[list[Target]]:
    """Postgres + SeaweedFS + one s3proxy per backend; yields the targets, then stops all."""
    from tests.rig import Postgres, SeaweedFS, Server

    stack = contextlib.ExitStack()
    with stack:
        pg = Postgres()
        stack.callback(pg.close)
        weed = SeaweedFS().start()
        stack.callback(weed.close)
        targets: list[Target] = []
        if upstream:
            direct = Target(
                name=UPSTREAM, description="SeaweedFS S3 API, directly (presigned URLs)",
                s3_url=weed.endpoint, access_key=weed.key_id, secret_key=weed.secret,
                region=weed.region, bucket="bench-direct",
                pids=[weed.proc.pid] if weed.proc is not None else [],
            )
            client = direct.s3_client()
            with contextlib.suppress(Exception):
                client.create_bucket(Bucket=direct.bucket)
            targets.append(direct)
        for backend in backends:
            srv = Server(backend=backend, database_url=pg.new_database(f"s3proxy_bench_{backend}"),
                         upstream=weed if backend == "s3" else None, workers=workers)
            try:
                srv.start()
            except Exception:
                print(srv.log_tail())
                raise
            stack.callback(srv.close)
            assert srv.proc is not None
            targets.append(Target(
                name=backend, description=f"s3proxy, {backend} backend, {workers} workers",
                rest_url=srv.url, s3_url=srv.s3_url, service_jwt=srv.token("service_role", exp=86400),
                access_key=srv.s3_key_id, secret_key=srv.s3_secret, region=srv.region,
                database_url=srv.database_url, pids=[srv.proc.pid],
            ))
        yield targets
