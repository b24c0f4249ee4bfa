"""Large transfers: one object of 1 GiB (16 MiB with --quick) up and down each protocol,
and up through TUS (`/upload/resumable`) in the 6 MiB chunks supabase-js documents and in
one PATCH (tuspy's default), to compare with the same file by REST POST.

The body is streamed from a generator that yields one repeating 1 MiB buffer, with a
declared Content-Length, and downloads are counted and dropped, so the client never
holds the object; both go through `rawhttp`, a client that costs little more CPU than
the kernel's copies. Measured: throughput, the server's peak RSS summed over its
processes (sampled every 100 ms), server CPU and the client's own CPU time.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench import rawhttp
from bench.scenarios import RUN_ID, ScenarioError, rest_path
from bench.targets import ProcessSampler, Target
from bench.wrk import origin

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LargeScenario:
    """One direction of one protocol, compared with the same direction on the upstream."""

    name: str
    protocol: str  # rest | s3 | tus
    direction: str  # upload | download
    baseline: str
    title: str
    chunk: int = 0  # tus: bytes per PATCH (0: the whole object in one)


LARGE_SCENARIOS: list[LargeScenario] = [
    LargeScenario("rest_upload_large", "rest", "upload", "s3_upload_large", "REST upload (POST), streamed"),
    LargeScenario("rest_download_large", "rest", "download", "s3_download_large", "REST download, streamed"),
    LargeScenario("s3_upload_large", "s3", "upload", "s3_upload_large", "S3 PutObject (presigned), streamed"),
    LargeScenario("s3_download_large", "s3", "download", "s3_download_large", "S3 GetObject (presigned), streamed"),
    LargeScenario("tus_upload_large", "tus", "upload", "s3_upload_large",
                  "TUS upload, 6 MiB PATCHes (supabase-js)", chunk=6 * CHUNK),
    LargeScenario("tus_upload_large_1", "tus", "upload", "s3_upload_large", "TUS upload, one PATCH (tuspy)"),
]
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


def body(size: int) -> Iterator[bytes]:
    """`size` bytes as 1 MiB chunks of one repeating buffer."""
    buffer = bytes(range(256)) * (CHUNK // 256)
    left = size
    while left > 0:
        piece = buffer if left >= CHUNK else buffer[:left]
        left -= len(piece)
        yield piece


def _request(target: Target, protocol: str, direction: str, key: str) -> tuple[str, str, dict[str, str]]:
    """(method, url, headers) for one large transfer."""
    if protocol == "rest":
        assert target.rest_url
        base = origin(target.rest_url)
        headers = target.rest_headers()
        if direction == "upload":
            url = base + rest_path(target, f"object/{target.bucket}/{key}")
            return "POST", url, {**headers, "x-upsert": "true", "Content-Type": "application/octet-stream"}
        return "GET", base + rest_path(target, f"object/authenticated/{target.bucket}/{key}"), headers
    operation = "put_object" if direction == "upload" else "get_object"
    return ("PUT" if direction == "upload" else "GET"), target.presigned(operation, key), {}


def _tus_upload(target: Target, key: str, size: int, chunk: int) -> None:
    """Create an upload (no body), then PATCH it in `chunk`-byte pieces, each on a new
    connection as a browser's would often be."""
    assert target.rest_url
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                        for k, v in (("bucketName", target.bucket), ("objectName", key),
                                     ("contentType", "application/octet-stream")))
    headers = {**target.rest_headers(), **TUS_HEADERS}
    endpoint = origin(target.rest_url) + rest_path(target, "upload/resumable")
    resp = rawhttp.request("POST", endpoint, {**headers, "Upload-Length": str(size), "Upload-Metadata": metadata,
                                              "x-upsert": "true"})
    if resp.status != 201 or "location" not in resp.headers:
        raise ScenarioError(f"TUS create: HTTP {resp.status} {resp.body[:200]!r}")
    url = resp.headers["location"]
    step = chunk or size
    for offset in range(0, size, step) if size else [0]:
        n = min(step, size - offset)
        resp = rawhttp.request("PATCH", url, {**headers, "Upload-Offset": str(offset),
                                              "Content-Type": "application/offset+octet-stream"},
                               body=body(n), body_size=n)
        if resp.status != 204:
            raise ScenarioError(f"TUS PATCH at {offset}: HTTP {resp.status} {resp.body[:200]!r}")


def transfer(target: Target, scenario: LargeScenario, size: int) -> dict[str, Any]:
    """Run one transfer; returns throughput and resource figures, raises ScenarioError."""
    key = f"bench/{RUN_ID}/large-{scenario.protocol}"
    upload = scenario.direction == "upload"
    cpu0 = time.process_time()
    with ProcessSampler(target.pids) as sampler:
        started = time.monotonic()
        try:
            if scenario.protocol == "tus":
                _tus_upload(target, f"{key}-{scenario.chunk}", size, scenario.chunk)
                resp = None
            else:
                method, url, headers = _request(target, scenario.protocol, scenario.direction, key)
                resp = rawhttp.request(method, url, headers, body=body(size) if upload else (),
                                       body_size=size if upload else 0, count_body=not upload)
        except (OSError, rawhttp.TransferError) as exc:
            raise ScenarioError(f"{scenario.name} {size} bytes: {exc}") from exc
        if resp is not None and resp.status >= 300:
            raise ScenarioError(f"{scenario.name} {size} bytes: HTTP {resp.status} {resp.body[:200]!r}")
        if resp is not None and not upload and resp.received != size:
            raise ScenarioError(f"download returned {resp.received} bytes, expected {size}")
        seconds = time.monotonic() - started
    return {
        "bytes": size,
        "seconds": round(seconds, 3),
        "mib_per_s": round(size / 2**20 / seconds, 1),
        "server_rss_peak_mib": sampler.peak_mib,
        "server_cpu_cores": sampler.cpu_cores,
        "machine_cpu_cores": sampler.machine_cpu_cores,
        "client_cpu_s": round(time.process_time() - cpu0, 2),
    }
