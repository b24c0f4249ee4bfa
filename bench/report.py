"""The bench's output: a table for humans and a JSON file, with ratios against the
direct-upstream baseline and the issue's targets marked PASS / FAIL beside the figures.
No assertion is made on any timing: the targets are reported, never enforced.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.targets import UPSTREAM

# The Node reference server at concurrency 16 (req/s); its p99 was 110-160 ms.
NODE_C16 = {"rest_get_1k": 354, "rest_put_1k": 246, "rest_get_1m": 96, "s3_get_1k": 461, "s3_put_1k": 192}
NODE_P99_MS = 110.0  # "lower p99" = below the low end of the reference's 110-160 ms
RATE_FACTOR = 2.0
LARGE_RATIO = 0.8
RSS_LOAD_MIB = 300.0
RSS_LARGE_MIB = 200.0
LIST_P99_MS = 50.0
TARGETS_TEXT = [
    f"rates >= {RATE_FACTOR:g}x the Node reference at c16 and c64 ("
    + ", ".join(f"{k} {v}" for k, v in NODE_C16.items()) + " req/s) with p99 < "
    f"{NODE_P99_MS:g} ms (Node: 110-160 ms)",
    f"large transfer >= {LARGE_RATIO:.0%} of the direct-upstream throughput",
    f"server RSS (all processes) <= {RSS_LOAD_MIB:g} MiB under load, <= {RSS_LARGE_MIB:g} MiB in a large transfer",
    f"1,000-key listing page from the big bucket: p99 <= {LIST_P99_MS:g} ms at c1 and c16, both protocols",
]


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    """The median over repeated runs; for peak memory (`*rss*` keys) the highest peak,
    so a memory target is judged on the worst run."""
    values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
    if not values:
        return None
    return round(max(values) if "rss" in key else statistics.median(values), 3)


def baseline_of(results: list[dict[str, Any]], rec: dict[str, Any]) -> dict[str, Any] | None:
    if not rec.get("baseline") or rec["target"] == UPSTREAM:
        return None
    for other in results:
        if (other["target"] == UPSTREAM and other["scenario"] == rec["baseline"]
                and other["concurrency"] == rec["concurrency"] and not other.get("error")):
            return other
    return None


def add_ratios(results: list[dict[str, Any]]) -> None:
    """`vs_upstream`: this figure divided by the same operation done directly on SeaweedFS."""
    for rec in results:
        base = baseline_of(results, rec)
        rec["vs_upstream"] = None
        if base is None or rec.get("error"):
            continue
        key = "mib_per_s" if rec["kind"] == "large" else "rps"
        mine, theirs = rec["median"].get(key), base["median"].get(key)
        if mine is not None and theirs:
            rec["vs_upstream"] = round(mine / theirs, 3)
    add_rest_ratios(results)


def add_rest_ratios(results: list[dict[str, Any]]) -> None:
    """`vs_rest` of a TUS upload: its throughput divided by the same target's REST POST of
    the same object (TUS's cost over the plain upload)."""
    rest = {r["target"]: r for r in results if r["scenario"] == "rest_upload_large" and not r.get("error")}
    for rec in results:
        if rec["scenario"].startswith("tus_") and not rec.get("error") and rec["target"] in rest:
            mine, theirs = rec["median"].get("mib_per_s"), rest[rec["target"]]["median"].get("mib_per_s")
            rec["vs_rest"] = round(mine / theirs, 3) if mine is not None and theirs else None


def _check(name: str, rec: dict[str, Any], value: float | None, goal: str, ok: bool | None) -> dict[str, Any]:
    return {"check": name, "target": rec["target"], "scenario": rec["scenario"],
            "concurrency": rec["concurrency"], "value": value, "goal": goal,
            "result": "n/a" if ok is None else ("PASS" if ok else "FAIL")}


def check_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target of the issue that applies to a record, evaluated (never asserted)."""
    checks: list[dict[str, Any]] = []
    for rec in results:
        if rec["target"] == UPSTREAM:
            continue
        med = rec.get("median") or {}
        err = bool(rec.get("error"))
        if rec["scenario"] in NODE_C16 and rec["concurrency"] in (16, 64):
            goal = RATE_FACTOR * NODE_C16[rec["scenario"]]
            rps, p99 = med.get("rps"), med.get("p99_ms")
            checks.append(_check("rate", rec, rps, f">= {goal:g} req/s", None if err else (rps or 0) >= goal))
            checks.append(_check("p99", rec, p99, f"< {NODE_P99_MS:g} ms",
                                 None if err or p99 is None else p99 < NODE_P99_MS))
        if rec["kind"] in ("rate", "listing", "render") and not err:
            rss = med.get("server_rss_peak_mib")
            checks.append(_check("rss_load", rec, rss, f"<= {RSS_LOAD_MIB:g} MiB",
                                 None if rss is None else rss <= RSS_LOAD_MIB))
        if rec["kind"] == "listing" and rec["concurrency"] in (1, 16):
            p99 = med.get("p99_ms")
            checks.append(_check("list_p99", rec, p99, f"<= {LIST_P99_MS:g} ms",
                                 None if err or p99 is None else p99 <= LIST_P99_MS))
        if rec["kind"] == "large":
            ratio, rss = rec.get("vs_upstream"), med.get("server_rss_peak_mib")
            checks.append(_check("large_ratio", rec, ratio, f">= {LARGE_RATIO:g} x upstream",
                                 None if err or ratio is None else ratio >= LARGE_RATIO))
            checks.append(_check("rss_large", rec, rss, f"<= {RSS_LARGE_MIB:g} MiB",
                                 None if err or rss is None else rss <= RSS_LARGE_MIB))
    return checks


def _fmt(value: Any, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _marks(checks: list[dict[str, Any]], rec: dict[str, Any]) -> str:
    mine = [c for c in checks if c["target"] == rec["target"] and c["scenario"] == rec["scenario"]
            and c["concurrency"] == rec["concurrency"] and c["result"] != "n/a"]
    return " ".join(f"{c['check']}{c['goal'].replace(' ', '')}:{c['result']}" for c in mine)


def table(results: list[dict[str, Any]], checks: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The human-readable report."""
    out: list[str] = []
    out.append(f"s3proxy bench  {meta['started']}  quick={meta['quick']}  duration={meta['duration_s']}s "
               f"x{meta['repeat']} (medians)  cpus={meta['cpus']}  wrk={meta.get('wrk') or 'missing'}")
    for tgt in meta["targets"]:
        out.append("")
        out.append(f"== {tgt['name']}: {tgt['description']}")
        rows = [r for r in results if r["target"] == tgt["name"]]
        head = (f"{'scenario':<20}{'c':>4}{'req/s':>9}{'p50ms':>8}{'p99ms':>8}{'errs':>6}{'x up':>7}"
                f"{'srvRSS':>8}{'srvCPU':>7}{'allCPU':>7}{'wrkCPU':>7}  targets")
        rate_rows = [r for r in rows if r["kind"] != "large"]
        if rate_rows:
            out.append(head)
        shown: set[tuple[str, str]] = set()
        for r in rate_rows:
            if r.get("error"):
                if (r["scenario"], r["error"]) not in shown:  # one line per scenario and error
                    shown.add((r["scenario"], r["error"]))
                    out.append(f"{r['scenario']:<20}{r['concurrency']:>4}  ERROR: {r['error'][:150]}")
                continue
            m = r["median"]
            out.append(
                f"{r['scenario']:<20}{r['concurrency']:>4}{_fmt(m.get('rps')):>9}{_fmt(m.get('p50_ms'), '.1f'):>8}"
                f"{_fmt(m.get('p99_ms'), '.1f'):>8}{_fmt(m.get('errors')):>6}{_fmt(r.get('vs_upstream'), '.2f'):>7}"
                f"{_fmt(m.get('server_rss_peak_mib')):>8}{_fmt(m.get('server_cpu_cores'), '.2f'):>7}"
                f"{_fmt(m.get('machine_cpu_cores'), '.2f'):>7}{_fmt(m.get('client_cpu_cores'), '.2f'):>7}"
                f"  {_marks(checks, r)}")
        large_rows = [r for r in rows if r["kind"] == "large"]
        if large_rows:
            out.append(f"{'large transfer':<20}{'MiB':>6}{'MiB/s':>9}{'secs':>8}{'x up':>7}{'srvRSS':>8}"
                       f"{'srvCPU':>7}{'allCPU':>7}{'cliCPU':>7}  targets")
        for r in large_rows:
            if r.get("error"):
                out.append(f"{r['scenario']:<20}  ERROR: {r['error'][:150]}")
                continue
            m = r["median"]
            out.append(
                f"{r['scenario']:<20}{(m.get('bytes') or 0) / 2**20:>6.0f}{_fmt(m.get('mib_per_s'), '.1f'):>9}"
                f"{_fmt(m.get('seconds'), '.2f'):>8}{_fmt(r.get('vs_upstream'), '.2f'):>7}"
                f"{_fmt(m.get('server_rss_peak_mib')):>8}{_fmt(m.get('server_cpu_cores'), '.2f'):>7}"
                f"{_fmt(m.get('machine_cpu_cores'), '.2f'):>7}{_fmt(m.get('client_cpu_s'), '.1f'):>7}"
                f"  {_marks(checks, r)}" + (f" x REST POST {r['vs_rest']:.2f}" if r.get("vs_rest") else ""))
    out.append("")
    out.append("columns: req/s = successful responses per second; x up = ratio to the same operation done "
               "directly on the upstream SeaweedFS S3 API (presigned URLs); srvRSS = peak MiB summed over the "
               "server's processes; srvCPU / wrkCPU = cores used by the server / by wrk itself; allCPU = busy "
               "cores of the whole machine (at the core count: CPU-bound; minus srvCPU and wrkCPU: Postgres "
               "and the upstream)")
    wrk_cpu = [r["median"].get("client_cpu_cores") for r in results if r["kind"] != "large" and r.get("median")]
    wrk_cpu = [c for c in wrk_cpu if isinstance(c, int | float)]
    if wrk_cpu:
        out.append(f"load generator: wrk used at most {max(wrk_cpu):.2f} of {meta['cpus']} cores "
                   f"(median {statistics.median(wrk_cpu):.2f}) in any run")
    for name, info in meta.get("listing_seed", {}).items():
        out.append(f"listing seed [{name}]: {info['rows']:,} rows in {info['seconds']} s; {info['method']}")
    out.append("targets: " + "; ".join(TARGETS_TEXT))
    passed = sum(c["result"] == "PASS" for c in checks)
    failed = [c for c in checks if c["result"] == "FAIL"]
    errors = [r for r in results if r.get("error")]
    out.append(f"target checks: {passed} PASS, {len(failed)} FAIL; scenario errors: {len(errors)}")
    return "\n".join(out)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
