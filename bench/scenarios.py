"""Request-rate scenarios: small objects over REST and S3, each a function that prepares
a target (uploads the objects a GET needs, probes the route once) and returns a
factory of wrk loads, one per run (fresh-key PUTs get fresh URLs every run).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.targets import FastPresigner, Target
from bench.wrk import Load, origin, write_lines

KIB = 1024
MIB = 1024 * 1024
RUN_ID = uuid.uuid4().hex[:8]  # keys of this bench run never collide with an earlier one


class ScenarioError(RuntimeError):
    """The endpoint a scenario needs is not there (yet) or answered wrongly."""


@dataclass
class Context:
    """Settings every scenario sees."""

    workdir: Path
    duration: int
    quick: bool
    objects: int = 64  # distinct keys a GET scenario rotates through
    listing_rows: int = 1_000_000  # rows seeded into the listing bucket


LoadFactory = Callable[[], Load]


def _check(resp: httpx.Response, what: str) -> httpx.Response:
    if resp.status_code >= 300:
        raise ScenarioError(f"{what}: HTTP {resp.status_code} {resp.text[:200]!r}")
    return resp


def rest_path(target: Target, suffix: str) -> str:
    assert target.rest_url
    return urlsplit(target.rest_url).path.rstrip("/") + "/" + suffix


def rest_upload(client: httpx.Client, target: Target, key: str, data: bytes) -> None:
    url = origin(target.rest_url or "") + rest_path(target, f"object/{target.bucket}/{key}")
    headers = {**target.rest_headers(), "Content-Type": "application/octet-stream", "x-upsert": "true"}
    _check(client.post(url, content=data, headers=headers), f"REST upload {key}")


def s3_upload(client: httpx.Client, target: Target, key: str, data: bytes) -> None:
    _check(client.put(target.presigned("put_object", key), content=data), f"S3 presigned PUT {key}")


def ensure_bucket(target: Target) -> None:
    """Create the bench bucket (REST first, then S3); an existing one is fine."""
    errors: list[str] = []
    if target.rest_url and not target.is_upstream:
        with httpx.Client(timeout=30) as client:
            url = origin(target.rest_url) + rest_path(target, "bucket")
            r = client.post(url, json={"name": target.bucket}, headers=target.rest_headers())
            if r.status_code < 300 or "exist" in r.text.lower():
                return
            errors.append(f"REST POST /bucket: {r.status_code} {r.text[:200]}")
    if target.s3_url:
        client = target.s3_client()
        try:
            client.head_bucket(Bucket=target.bucket)
            return
        except Exception:  # noqa: BLE001 - absent or not answering; try to create it
            pass
        try:
            client.create_bucket(Bucket=target.bucket)
            return
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"S3 CreateBucket: {exc}")
    raise ScenarioError("; ".join(errors) or "no endpoint to create the bench bucket")


def _get_load(target: Target, ctx: Context, protocol: str, size: int, name: str) -> LoadFactory:
    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    keys = [f"bench/{RUN_ID}/{name}/{i}" for i in range(ctx.objects)]
    lines: list[tuple[str, str]] = []
    with httpx.Client(timeout=60) as client:
        for key in keys:
            if protocol == "rest":
                rest_upload(client, target, key, data)
                lines.append(("GET", rest_path(target, f"object/authenticated/{target.bucket}/{key}")))
            else:
                s3_upload(client, target, key, data)
                parts = urlsplit(target.presigned("get_object", key))
                lines.append(("GET", f"{parts.path}?{parts.query}"))
        base = origin((target.rest_url if protocol == "rest" else target.s3_url) or "")
        headers = target.rest_headers() if protocol == "rest" else {}
        probe = _check(client.get(base + lines[0][1], headers=headers), f"{protocol} GET probe")
        if len(probe.content) != size:
            raise ScenarioError(f"{protocol} GET probe returned {len(probe.content)} bytes, not {size}")
    path = write_lines(ctx.workdir / f"{target.name}-{name}.lines", list(lines))
    load = Load(base_url=base, mode="lines", source=path, headers=headers)
    return lambda: load


def rest_get_1k(target: Target, ctx: Context) -> LoadFactory:
    """GET /object/authenticated/{bucket}/{key} of 1 KiB objects."""
    return _get_load(target, ctx, "rest", KIB, "rest_get_1k")


def rest_get_1m(target: Target, ctx: Context) -> LoadFactory:
    """GET /object/authenticated/{bucket}/{key} of 1 MiB objects."""
    return _get_load(target, ctx, "rest", MIB, "rest_get_1m")


def s3_get_1k(target: Target, ctx: Context) -> LoadFactory:
    """GetObject of 1 KiB objects through presigned URLs (made with botocore)."""
    return _get_load(target, ctx, "s3", KIB, "s3_get_1k")


def s3_get_1m(target: Target, ctx: Context) -> LoadFactory:
    """GetObject of 1 MiB objects through presigned URLs (made with botocore)."""
    return _get_load(target, ctx, "s3", MIB, "s3_get_1m")


def rest_put_1k(target: Target, ctx: Context) -> LoadFactory:
    """POST /object/{bucket}/{key} of 1 KiB to a fresh key per request (Lua counter + thread id)."""
    with httpx.Client(timeout=60) as client:
        rest_upload(client, target, f"bench/{RUN_ID}/rest_put_probe", b"x" * KIB)
    runs = iter(range(1_000_000))
    headers = {**target.rest_headers(), "Content-Type": "application/octet-stream"}
    base = origin(target.rest_url or "")

    def factory() -> Load:
        prefix = rest_path(target, f"object/{target.bucket}/bench/{RUN_ID}/rest_put_1k/{next(runs)}/")
        return Load(base_url=base, mode="fresh", source=prefix, body_size=KIB, headers=headers)

    return factory


class _PutUrls:
    """Fresh presigned PUT URLs for every run, sized from the best rate seen so far."""

    def __init__(self, target: Target, ctx: Context) -> None:
        self.target = target
        self.ctx = ctx
        self.signer = FastPresigner(target)
        self.signer.check_against_botocore()
        self.expected_rps = 3000.0
        self.run = 0

    def __call__(self) -> Load:
        self.run += 1
        count = max(2000, int(self.expected_rps * self.ctx.duration * 1.5))
        lines = [("PUT", self.signer.url("PUT", f"bench/{RUN_ID}/s3_put_1k/{self.run}/{i}"))
                 for i in range(count)]
        path = write_lines(self.ctx.workdir / f"{self.target.name}-s3_put_1k.lines", list(lines))
        return Load(base_url=origin(self.target.s3_url or ""), mode="lines", source=path, body_size=KIB)

    def observe(self, rps: float) -> None:
        self.expected_rps = max(self.expected_rps, rps)


def s3_put_1k(target: Target, ctx: Context) -> LoadFactory:
    """PutObject of 1 KiB to fresh keys through pre-generated presigned PUT URLs (one per request;
    a thread that runs out wraps around and overwrites, which is reported as `wraps`)."""
    factory = _PutUrls(target, ctx)
    with httpx.Client(timeout=60) as client:
        probe = factory.signer.url("PUT", f"bench/{RUN_ID}/s3_put_probe")
        _check(client.put(origin(target.s3_url or "") + probe, content=b"x" * KIB), "S3 presigned PUT probe")
    return factory


@dataclass(frozen=True)
class RateScenario:
    """A request-rate scenario and the upstream scenario it is compared with."""

    name: str
    protocol: str
    prepare: Callable[[Target, Context], LoadFactory]
    baseline: str
    title: str


RATE_SCENARIOS: list[RateScenario] = [
    RateScenario("rest_get_1k", "rest", rest_get_1k, "s3_get_1k", "REST GET 1 KiB"),
    RateScenario("rest_put_1k", "rest", rest_put_1k, "s3_put_1k", "REST PUT 1 KiB (fresh keys)"),
    RateScenario("rest_get_1m", "rest", rest_get_1m, "s3_get_1m", "REST GET 1 MiB"),
    RateScenario("s3_get_1k", "s3", s3_get_1k, "s3_get_1k", "S3 GET 1 KiB (presigned)"),
    RateScenario("s3_put_1k", "s3", s3_put_1k, "s3_put_1k", "S3 PUT 1 KiB (presigned, fresh keys)"),
    RateScenario("s3_get_1m", "s3", s3_get_1m, "s3_get_1m", "S3 GET 1 MiB (presigned)"),
]
