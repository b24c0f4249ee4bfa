"""`python -m conformance`: judge a storage endpoint with real clients.

With no target it starts s3proxy itself (file and upstream-S3 backends) and judges both.
Prints one scoreboard line per client and ends with `N passed, M failed[, K skipped (…)]`.
Exit status 1 when any check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

from conformance import clients as _clients  # noqa: F401 - registers the checks
from conformance.runner import (
    CLIENTS,
    EXTERNAL,
    REGISTRY,
    Result,
    run_all,
    scoreboard,
    summary_line,
    write_junit,
)
from conformance.target import Target, self_started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m conformance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    t = p.add_argument_group("target (omit --rest-url and --s3-url to self-start s3proxy)")
    t.add_argument("--rest-url", default=env("CONFORMANCE_REST_URL"),
                   help="Supabase Storage REST base URL, e.g. http://127.0.0.1:5000/ or https://<ref>.supabase.co/storage/v1/")
    t.add_argument("--s3-url", default=env("CONFORMANCE_S3_URL"), help="S3 endpoint URL")
    t.add_argument("--service-jwt", default=env("CONFORMANCE_SERVICE_JWT"), help="service_role JWT for REST")
    t.add_argument("--anon-jwt", default=env("CONFORMANCE_ANON_JWT"), help="anon JWT (optional)")
    t.add_argument("--jwt-secret", default=env("CONFORMANCE_JWT_SECRET"),
                   help="JWT secret, to mint service_role/anon tokens when none are given")
    t.add_argument("--access-key", default=env("CONFORMANCE_ACCESS_KEY"), help="S3 access key id")
    t.add_argument("--secret-key", default=env("CONFORMANCE_SECRET_KEY"), help="S3 secret access key")
    t.add_argument("--region", default=env("CONFORMANCE_REGION", "us-east-1"))
    t.add_argument("--addressing-style", choices=["path", "virtual"], default=env("CONFORMANCE_ADDRESSING_STYLE", "path"))
    t.add_argument("--label", default="target", help="name of the target in the report")
    p.add_argument("--backends", default="file,s3", help="self-start mode: s3proxy backends to start (file,s3)")
    p.add_argument("--clients", default=",".join(CLIENTS), help=f"comma list of {', '.join(CLIENTS)}")
    p.add_argument("-k", dest="pattern", default=None, help="only checks whose 'client: name' contains this")
    p.add_argument("--junit", default="results/conformance-junit.xml", help="JUnit XML output path")
    p.add_argument("--jobs", type=int, default=4, help="client runs in parallel (default 4)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print every check as it finishes")
    return p.parse_args(argv)


def list_checks(clients: list[str]) -> int:
    n = 0
    for c in clients:
        names = EXTERNAL[c].names() if c in EXTERNAL else [k.name for k in REGISTRY if k.client == c]
        for name in names:
            print(f"{c}: {name}")
        n += len(names)
    print(f"{n} checks")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        print(f"unknown client(s): {', '.join(unknown)}; known: {', '.join(CLIENTS)}", file=sys.stderr)
        return 2
    if args.list:
        return list_checks(clients)
    os.environ.pop("AWS_CA_BUNDLE", None)
    warnings.filterwarnings("ignore", module="platformdirs")

    given = args.rest_url or args.s3_url
    if given:
        ctx = nullcontext([Target(
            label=args.label, rest_url=args.rest_url, s3_url=args.s3_url, service_jwt=args.service_jwt,
            anon_jwt=args.anon_jwt, jwt_secret=args.jwt_secret, access_key=args.access_key,
            secret_key=args.secret_key, region=args.region, addressing_style=args.addressing_style,
        )])
    else:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        print(f"starting s3proxy on backend(s): {', '.join(backends)} …", flush=True)
        ctx = self_started(backends)  # type: ignore[assignment]

    lock = threading.Lock()

    def progress(r: Result) -> None:
        if args.verbose or r.status == "failed":
            with lock:
                mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[r.status]
                tail = f"  — {r.message}" if r.message and r.status != "passed" else ""
                print(f"{mark} {r.client} [{r.label}] {r.name}{tail}", flush=True)

    started = time.monotonic()
    try:
        targets = ctx.__enter__()
    except Exception as exc:  # noqa: BLE001 - report and stop
        print(f"could not start the target: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("0 passed, 1 failed (target did not start)")
        return 1
    try:
        for t in targets:
            print(f"target {t.describe()}", flush=True)
        results = run_all(targets, clients, args.pattern, args.jobs, progress)
        labels = [t.label for t in targets]
    finally:
        ctx.__exit__(None, None, None)
    print()
    for line in scoreboard(results, clients, labels):
        print(line)
    write_junit(results, Path(args.junit))
    print(f"JUnit XML: {args.junit}  ({time.monotonic() - started:.0f}s)")
    print(summary_line(results))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
