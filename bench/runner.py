"""Run the selected scenarios on one target and collect one record per scenario and
concurrency. A scenario that fails (route not there yet, wrong answer) becomes a record
with an `error`; it never stops the run.
"""

from __future__ import annotations

import fnmatch
import functools
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.large import LARGE_SCENARIOS, LargeScenario, transfer
from bench.listing import LISTING_SCENARIOS
from bench.render import RENDER_SCENARIOS
from bench.report import median_of
from bench.scenarios import RATE_SCENARIOS, Context, RateScenario, ScenarioError, ensure_bucket
from bench.targets import ProcessSampler, Target
from bench.wrk import run_wrk

RATE_KEYS = ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mb_per_s", "errors", "requests",
             "client_cpu_cores", "server_rss_peak_mib", "server_cpu_cores", "machine_cpu_cores", "wraps"]
LARGE_KEYS = ["bytes", "seconds", "mib_per_s", "server_rss_peak_mib", "server_cpu_cores", "machine_cpu_cores",
              "client_cpu_s"]


@dataclass
class Plan:
    """What to run, the same for every target."""

    scenarios: list[str]  # fnmatch patterns; empty = all
    concurrencies: list[int]
    repeat: int
    large_size: int
    large_repeat: int
    wrk_bin: str | None
    wrk_error: str | None = None
    parallel_scenarios: int = 1  # >1 only for --quick: a smoke run, figures not comparable

    def wants(self, name: str) -> bool:
        return not self.scenarios or any(fnmatch.fnmatch(name, p) or p == name for p in self.scenarios)


def all_names() -> list[str]:
    return ([s.name for s in RATE_SCENARIOS + LISTING_SCENARIOS + RENDER_SCENARIOS]
            + [s.name for s in LARGE_SCENARIOS])


_T0 = time.monotonic()


def log(target: Target, message: str) -> None:
    print(f"{time.monotonic() - _T0:6.1f}s [{target.name}] {message}", file=sys.stderr, flush=True)


def _short(exc: BaseException) -> str:
    if isinstance(exc, ScenarioError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".strip()[:400]


def _record(target: Target, scn: RateScenario | LargeScenario, kind: str, concurrency: int | None,
            runs: list[dict[str, Any]], error: str | None, keys: list[str]) -> dict[str, Any]:
    return {
        "target": target.name, "scenario": scn.name, "title": scn.title, "kind": kind,
        "protocol": scn.protocol, "concurrency": concurrency, "baseline": scn.baseline or None,
        "runs": runs, "median": {k: median_of(runs, k) for k in keys} if runs else {}, "error": error,
    }


def _rate(target: Target, scn: RateScenario, kind: str, ctx: Context, plan: Plan) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    try:
        if plan.wrk_bin is None:
            raise ScenarioError(plan.wrk_error or "wrk missing")
        factory = scn.prepare(target, ctx)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        log(target, f"{scn.name}: not run: {_short(exc)}")
        if not isinstance(exc, ScenarioError):
            traceback.print_exc(file=sys.stderr)
        return [_record(target, scn, kind, c, [], _short(exc), RATE_KEYS) for c in plan.concurrencies]
    observe = getattr(factory, "observe", None)
    for c in plan.concurrencies:
        runs: list[dict[str, Any]] = []
        error: str | None = None
        for i in range(plan.repeat):
            try:
                load = factory()
                with ProcessSampler(target.pids) as sampler:
                    res = run_wrk(load, c, ctx.duration, plan.wrk_bin)
            except Exception as exc:  # noqa: BLE001 - recorded
                error = _short(exc)
                log(target, f"{scn.name} c{c}: {error}")
                break
            run = {**res.as_dict(), "server_rss_peak_mib": sampler.peak_mib,
                   "server_cpu_cores": sampler.cpu_cores, "machine_cpu_cores": sampler.machine_cpu_cores}
            runs.append(run)
            if callable(observe):
                observe(res.rps)
            log(target, f"{scn.name} c{c} run {i + 1}/{plan.repeat}: {res.rps:.0f} req/s "
                        f"p99 {res.p99_ms} ms errors {res.errors} wrk-cpu {res.client_cpu_cores:.2f}")
        if runs and all(r["errors"] >= max(1, r["requests"]) for r in runs):
            error = f"every request failed ({runs[0]['errors']} errors, status>=400: {runs[0]['status_errors']})"
        records.append(_record(target, scn, kind, c, runs, error, RATE_KEYS))
    return records


def _large(target: Target, scn: LargeScenario, plan: Plan, uploaded: dict[str, bool]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    error: str | None = None
    try:
        if scn.direction == "download" and not uploaded.get(scn.protocol):
            raise ScenarioError(f"needs the {scn.protocol} upload of the large object first")
        for i in range(plan.large_repeat):
            runs.append(transfer(target, scn, plan.large_size))
            log(target, f"{scn.name} run {i + 1}/{plan.large_repeat}: {runs[-1]['mib_per_s']} MiB/s "
                        f"peak RSS {runs[-1]['server_rss_peak_mib']} MiB")
        if scn.direction == "upload":
            uploaded[scn.protocol] = True
    except Exception as exc:  # noqa: BLE001 - recorded
        error = _short(exc)
        log(target, f"{scn.name}: {error}")
    return _record(target, scn, "large", None, runs, error, LARGE_KEYS)


def baseline_names(plan: Plan) -> set[str]:
    """The upstream scenarios the selected proxy scenarios are compared with."""
    names = {s.baseline for s in RATE_SCENARIOS + LARGE_SCENARIOS if plan.wants(s.name)}  # type: ignore[operator]
    if any(plan.wants(n) for n in ("s3_download_large", "rest_download_large")):
        names.add("s3_upload_large")
    return names


def run_target(target: Target, ctx: Context, plan: Plan) -> list[dict[str, Any]]:
    """Every selected scenario on `target` (on the upstream: only the baselines)."""
    wanted = baseline_names(plan) if target.is_upstream else {n for n in all_names() if plan.wants(n)}
    try:
        ensure_bucket(target)
    except Exception as exc:  # noqa: BLE001 - each scenario will report its own failure
        log(target, f"bench bucket: {_short(exc)}")
    tasks: list[Callable[[], list[dict[str, Any]]]] = []
    for scn in RATE_SCENARIOS:
        if scn.name in wanted:
            tasks.append(functools.partial(_rate, target, scn, "rate", ctx, plan))
    large = [s for s in LARGE_SCENARIOS if s.name in wanted and not (target.is_upstream and s.protocol != "s3")]
    if large:
        uploaded: dict[str, bool] = {}
        tasks.append(lambda: [_large(target, scn, plan, uploaded) for scn in large])
    if not target.is_upstream:
        for scn in LISTING_SCENARIOS:
            if scn.name in wanted:
                tasks.append(functools.partial(_rate, target, scn, "listing", ctx, plan))
        for scn in RENDER_SCENARIOS:
            if scn.name in wanted:
                tasks.append(functools.partial(_rate, target, scn, "render", ctx, plan))
    if plan.parallel_scenarios > 1:
        with ThreadPoolExecutor(max_workers=plan.parallel_scenarios) as pool:
            groups = list(pool.map(lambda task: task(), tasks))
    else:
        groups = [task() for task in tasks]
    return [rec for group in groups for rec in group]
