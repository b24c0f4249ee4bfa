"""`python -m bench`: load and memory benchmarks of s3proxy against a direct-upstream baseline.

With no target given it starts its own Postgres, SeaweedFS and one s3proxy per backend
(tests/rig.py), and measures SeaweedFS directly as the baseline in the same run. With
--rest-url / --s3-url it measures any endpoint (give --upstream-url and keys for a
baseline, and --database-url to seed the listing bucket).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import listing
from bench.report import add_ratios, check_targets, table, write_json
from bench.runner import Plan, all_names, run_target
from bench.scenarios import Context
from bench.targets import UPSTREAM, Target, start_targets
from bench.wrk import WrkMissing, ensure_wrk

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run of every scenario: 1 s runs, one repeat, 16 MiB large object, 20,000-row "
                   "listing, targets and scenarios measured side by side (figures not comparable)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 5; --quick 1)")
    p.add_argument("--repeat", type=int, help="runs per scenario and concurrency, medians reported (default 3)")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts")
    p.add_argument("--scenarios", default="", help="comma-separated names or globs, e.g. 'rest_*,s3_get_1k'; "
                   f"all: {', '.join(all_names())}")
    p.add_argument("--large-mib", type=int, help="large object size in MiB (default 1024; --quick 16)")
    p.add_argument("--large-repeat", type=int,
                   help="runs of each large transfer, medians reported (default 3; --quick 1)")
    p.add_argument("--listing-rows", type=int, help="objects in the listing bucket (default 1,000,000; --quick 20,000)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON results")
    g = p.add_argument_group("self-started targets (when no --rest-url/--s3-url)")
    g.add_argument("--backends", default="file,s3", help="s3proxy backends to start")
    g.add_argument("--workers", type=int, default=2, help="s3proxy worker processes")
    g.add_argument("--no-upstream", action="store_true", help="skip the direct-upstream baseline")
    g.add_argument("--parallel", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the targets at the same time (default: only with --quick; figures then "
                        "share the CPU and are only a smoke test)")
    r = p.add_argument_group("a running endpoint")
    r.add_argument("--rest-url", help="Supabase Storage REST base URL, e.g. http://127.0.0.1:5000/")
    r.add_argument("--s3-url", help="S3 endpoint URL, e.g. http://127.0.0.1:9000")
    r.add_argument("--service-jwt", help="a service_role JWT for REST")
    r.add_argument("--jwt-secret", help="HS256 secret to mint the service_role JWT instead")
    r.add_argument("--access-key", help="S3 access key id")
    r.add_argument("--secret-key", help="S3 secret access key")
    r.add_argument("--region", default="us-east-1")
    r.add_argument("--bucket", default="bench", help="bucket the bench creates and writes into")
    r.add_argument("--database-url", help="superuser database URL of the endpoint (seeds the listing bucket)")
    r.add_argument("--server-pid", type=int, action="append", default=[],
                   help="pid of the server (RSS/CPU of it and its children is sampled); repeatable")
    r.add_argument("--upstream-url", help="S3 URL of the upstream, measured directly as the baseline")
    r.add_argument("--upstream-access-key")
    r.add_argument("--upstream-secret-key")
    r.add_argument("--upstream-region", default="us-east-1")
    r.add_argument("--upstream-bucket", default="bench-direct")
    r.add_argument("--upstream-pid", type=int, action="append", default=[])
    args = p.parse_args(argv)
    args.duration = args.duration or (1 if args.quick else 5)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.large_mib = args.large_mib or (16 if args.quick else 1024)
    args.large_repeat = args.large_repeat or (1 if args.quick else 3)
    args.listing_rows = args.listing_rows or (20_000 if args.quick else 1_000_000)
    return args


def _mint(secret: str) -> str:
    import time

    import jwt

    now = int(time.time())
    return str(jwt.encode({"role": "service_role", "iat": now, "exp": now + 86400}, secret, algorithm="HS256"))


@contextlib.contextmanager
def targets_for(args: argparse.Namespace) -> Iterator[list[Target]]:
    if not (args.rest_url or args.s3_url):
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        with start_targets(backends, args.workers, upstream=not args.no_upstream) as started:
            yield started
        return
    targets: list[Target] = []
    if args.upstream_url:
        targets.append(Target(name=UPSTREAM, description=f"upstream S3 directly: {args.upstream_url}",
                              s3_url=args.upstream_url, access_key=args.upstream_access_key,
                              secret_key=args.upstream_secret_key, region=args.upstream_region,
                              bucket=args.upstream_bucket, pids=args.upstream_pid))
    jwt = args.service_jwt or (_mint(args.jwt_secret) if args.jwt_secret else None)
    rest = args.rest_url if not args.rest_url or args.rest_url.endswith("/") else args.rest_url + "/"
    targets.append(Target(name="remote", description=f"REST {rest}  S3 {args.s3_url}", rest_url=rest,
                          s3_url=args.s3_url, service_jwt=jwt, access_key=args.access_key,
                          secret_key=args.secret_key, region=args.region, bucket=args.bucket,
                          database_url=args.database_url, pids=args.server_pid))
    yield targets


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--soak" in argv:  # a different run altogether: bench/soak.py
        from bench import soak

        return soak.main([a for a in argv if a != "--soak"])
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    wrk_bin: str | None = None
    wrk_error: str | None = None
    try:
        wrk_bin = ensure_wrk()
    except WrkMissing as exc:
        wrk_error = str(exc)
        print(f"bench: {exc}; request-rate and listing scenarios will be recorded as errors", file=sys.stderr)
    plan = Plan(
        scenarios=[s.strip() for s in args.scenarios.split(",") if s.strip()],
        concurrencies=[int(c) for c in args.concurrency.split(",")],
        repeat=args.repeat, large_size=args.large_mib * 2**20, large_repeat=args.large_repeat,
        wrk_bin=wrk_bin, wrk_error=wrk_error, parallel_scenarios=4 if args.quick else 1,
    )
    workdir = Path(tempfile.mkdtemp(prefix="s3proxy-bench-"))
    ctx = Context(workdir=workdir, duration=args.duration, quick=args.quick, listing_rows=args.listing_rows,
                  objects=8 if args.quick else 64)
    results: list[dict[str, Any]] = []
    try:
        with targets_for(args) as targets:
            parallel = args.quick if args.parallel is None else args.parallel
            if parallel:
                with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                    for recs in pool.map(lambda t: run_target(t, ctx, plan), targets):
                        results += recs
            else:
                for target in targets:
                    results += run_target(target, ctx, plan)
            described = [{"name": t.name, "description": t.description, "rest_url": t.rest_url,
                          "s3_url": t.s3_url} for t in targets]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    add_ratios(results)
    checks = check_targets(results)
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "quick": args.quick, "duration_s": args.duration,
        "repeat": args.repeat, "concurrency": plan.concurrencies, "large_bytes": plan.large_size,
        "listing_rows": args.listing_rows, "cpus": os.cpu_count(), "wrk": wrk_bin,
        "parallel_targets": parallel, "targets": described, "listing_seed": dict(listing.seeded),
        "scenarios": all_names(),
    }
    print(table(results, checks, meta))
    write_json(args.json, {"meta": meta, "results": results, "checks": checks})
    print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
