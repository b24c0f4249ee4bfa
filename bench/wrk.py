"""Run `wrk` with the bench's Lua script and parse what it reports.

The load generator is wrk (C, epoll) rather than Python so that the client is not the
bottleneck on a small machine; its own CPU time is measured with `os.wait4` (the
kernel's rusage for exactly that child) and reported beside every result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LUA = Path(__file__).resolve().parent / "lua" / "load.lua"
MARK = "BENCH_JSON "


class WrkMissing(RuntimeError):
    """wrk is not installed and could not be installed."""


def ensure_wrk() -> str:
    """The wrk binary; installs the Debian package when missing, running as root with apt."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("bench: wrk not found; installing it with apt-get install -y wrk", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], env=env, capture_output=True)
        found = shutil.which("wrk")
        if not found:
            subprocess.run([apt, "update", "-qq"], env=env, capture_output=True)
            subprocess.run([apt, "install", "-y", "-qq", "wrk"], env=env, capture_output=True)
            found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is missing: install it (Debian/Ubuntu: apt-get install wrk)")
    return found


@dataclass
class Load:
    """What one wrk run sends: a base URL plus either request lines or a fresh-key prefix."""

    base_url: str  # scheme://host:port (paths in the lines are absolute)
    mode: str  # "lines" | "fresh"
    source: str  # the lines file, or the path prefix for "fresh"
    body_size: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WrkResult:
    """One wrk run: rates, latencies (ms), errors and the client's own CPU use."""

    concurrency: int
    duration_s: float
    requests: int
    errors: int  # socket errors + timeouts + HTTP status >= 400
    status_errors: int
    rps: float  # successful responses per second
    p50_ms: float | None  # None when no request completed within the duration
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mb_per_s: float
    client_cpu_s: float
    client_cpu_cores: float  # wrk's CPU seconds per wall second
    wraps: int  # times a thread wrapped around its request list

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def run_wrk(load: Load, concurrency: int, duration_s: int, wrk_bin: str = "wrk",
            timeout_s: int = 10) -> WrkResult:
    """One wrk run at `concurrency` connections for `duration_s` seconds."""
    threads = max(1, min(2, concurrency))
    cmd = [wrk_bin, f"-t{threads}", f"-c{concurrency}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
           "-s", str(LUA)]
    for name, value in load.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += [load.base_url, "--", load.mode, str(threads), str(load.body_size), load.source]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    line = next((ln for ln in out.splitlines() if ln.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.strip()[-400:]}")
    data = json.loads(line[len(MARK):])
    duration = data["duration_us"] / 1e6 or 1e-9
    status_errors = int(data["status"])
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    ok = max(0, int(data["requests"]) - status_errors - int(data["timeout"]))
    cpu = usage.ru_utime + usage.ru_stime
    done = int(data["requests"]) > 0  # no latency figures when nothing completed in time

    def ms(key: str) -> float | None:
        return data[key] / 1000 if done else None

    return WrkResult(
        concurrency=concurrency,
        duration_s=round(duration, 3),
        requests=int(data["requests"]),
        errors=errors,
        status_errors=status_errors,
        rps=round(ok / duration, 1),
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p99_ms=ms("p99_us"),
        max_ms=ms("max_us"),
        mb_per_s=round(data["bytes"] / duration / 1e6, 2),
        client_cpu_s=round(cpu, 3),
        client_cpu_cores=round(cpu / wall, 3),
        wraps=int(data["wraps"]),
    )


def write_lines(path: Path, lines: list[tuple[str, str] | tuple[str, str, str]]) -> str:
    """Write request lines (`METHOD`, absolute path[, inline body]) for the "lines" mode."""
    with open(path, "w", encoding="utf-8") as fh:
        for entry in lines:
            if any("\t" in part or "\n" in part for part in entry):
                raise ValueError(f"request line with a tab or newline: {entry!r}")
            fh.write("\t".join(entry) + "\n")
    return str(path)
