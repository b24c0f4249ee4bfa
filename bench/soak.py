"""`python -m bench --soak`: a long mixed load, counting errors and watching memory.

Concurrency C (64) clients run for --duration seconds (300) against each self-started
s3proxy (tests/rig.py, 2 workers), each client alternating REST and S3 and picking
GET, PUT, LIST or DELETE at random on keys of its own. A client owns its keys, so it
knows what every answer must be: a GET returns exactly the bytes it last wrote (or
a not-found after its delete), a LIST shows exactly its live keys. Anything else is
an error, and so is any 5xx or transport failure: the target is 0. Every
--sample-every seconds (10) the server's RSS, summed over the supervisor and its
workers, is printed; after the warm-up it should stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import psutil

from bench.targets import FastPresigner, Target, start_targets

OPS = ("GET", "PUT", "LIST", "DELETE")
WEIGHTS = (5, 3, 1, 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench --soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=300, help="seconds of load per backend (default 300)")
    p.add_argument("--concurrency", type=int, default=64, help="clients at once (default 64)")
    p.add_argument("--backends", default="file,s3", help="s3proxy backends to start (default file,s3)")
    p.add_argument("--workers", type=int, default=2, help="s3proxy worker processes (default 2)")
    p.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    p.add_argument("--keys", type=int, default=8, help="keys per client (default 8)")
    p.add_argument("--size", type=int, default=4096, help="object size in bytes (default 4096)")
    p.add_argument("--json", type=Path, help="also write the results here")
    return p.parse_args(argv)


@dataclass
class Tally:
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def error(self, what: str, detail: str) -> None:
        self.errors[what] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{what}: {detail}"[:300])


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
    return round(total / 2**20, 1)


class Client:
    """One simulated client: its keys, what they hold, and both protocols."""

    def __init__(self, n: int, target: Target, rest: httpx.AsyncClient, s3: httpx.AsyncClient,
                 signer: FastPresigner, size: int, keys: int, tally: Tally) -> None:
        self.prefix = f"soak/c{n}/"
        self.target, self.rest, self.s3, self.signer = target, rest, s3, signer
        self.size, self.tally = size, tally
        self.keys = [f"{self.prefix}k{i}" for i in range(keys)]
        self.held: dict[str, bytes] = {}
        self.rng = random.Random(n)
        self.version = 0

    def body(self, key: str) -> bytes:
        self.version += 1
        head = f"{key}:{self.version}:".encode()
        return head + b"." * max(0, self.size - len(head))

    async def step(self) -> None:
        op = self.rng.choices(OPS, WEIGHTS)[0]
        protocol = self.rng.choice(("rest", "s3"))
        key = self.rng.choice(self.keys)
        name = f"{protocol} {op}"
        self.tally.ops[name] += 1
        try:
            await getattr(self, f"_{protocol}_{op.lower()}")(key, name)
        except httpx.HTTPError as exc:
            self.tally.error(name, f"{type(exc).__name__}: {exc}")

    def _check(self, name: str, response: httpx.Response, ok: bool, what: str) -> None:
        if not ok or response.status_code >= 500:
            self.tally.error(name, f"{what}: HTTP {response.status_code} {response.text[:200]}")

    # REST

    async def _rest_put(self, key: str, name: str) -> None:
        data = self.body(key)
        r = await self.rest.post(f"object/{self.target.bucket}/{key}", content=data, headers={"x-upsert": "true"})
        self._check(name, r, r.status_code == 200, key)
        if r.status_code == 200:
            self.held[key] = data

    async def _rest_get(self, key: str, name: str) -> None:
        r = await self.rest.get(f"object/authenticated/{self.target.bucket}/{key}")
        if key in self.held:
            self._check(name, r, r.status_code == 200 and r.content == self.held[key], key)
        else:
            self._check(name, r, r.status_code == 400 and r.json().get("statusCode") == "404", key)

    async def _rest_list(self, key: str, name: str) -> None:
        r = await self.rest.post(f"object/list-v2/{self.target.bucket}", json={"prefix": self.prefix, "limit": 1000})
        names = {o["name"] for o in r.json().get("objects", [])} if r.status_code == 200 else None
        self._check(name, r, names == set(self.held), f"listed {names} held {sorted(self.held)}")

    async def _rest_delete(self, key: str, name: str) -> None:
        r = await self.rest.request("DELETE", f"object/{self.target.bucket}", json={"prefixes": [key]})
        self._check(name, r, r.status_code == 200, key)
        if r.status_code == 200:
            self.held.pop(key, None)

    # S3 (presigned URLs: no per-request signing cost in the client)

    async def _s3_put(self, key: str, name: str) -> None:
        data = self.body(key)
        r = await self.s3.put(self.signer.url("PUT", key), content=data)
        self._check(name, r, r.status_code == 200, key)
        if r.status_code == 200:
            self.held[key] = data

    async def _s3_get(self, key: str, name: str) -> None:
        r = await self.s3.get(self.signer.url("GET", key))
        if key in self.held:
            self._check(name, r, r.status_code == 200 and r.content == self.held[key], key)
        else:
            self._check(name, r, r.status_code == 404, key)

    async def _s3_list(self, key: str, name: str) -> None:
        r = await self.s3.get(self.signer.url("GET", None, {"list-type": "2", "prefix": self.prefix}))
        names = None
        if r.status_code == 200:
            root = ElementTree.fromstring(r.content)
            names = {el.text for el in root.iter() if el.tag.endswith("}Key") or el.tag == "Key"}
        self._check(name, r, names == set(self.held), f"listed {names} held {sorted(self.held)}")

    async def _s3_delete(self, key: str, name: str) -> None:
        r = await self.s3.delete(self.signer.url("DELETE", key))
        self._check(name, r, r.status_code == 204, key)
        if r.status_code == 204:
            self.held.pop(key, None)


async def soak(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    assert target.rest_url and target.s3_url
    tally = Tally()
    signer = FastPresigner(target, expires=7 * 86400)
    signer.check_against_botocore()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    rest = httpx.AsyncClient(base_url=target.rest_url, headers=target.rest_headers(), limits=limits, timeout=60)
    s3 = httpx.AsyncClient(base_url=target.s3_url, limits=limits, timeout=60)
    r = await rest.post("bucket", json={"name": target.bucket})
    if r.status_code != 200 and "already" not in r.text.lower() and "Duplicate" not in r.text:
        raise RuntimeError(f"cannot create the bucket: {r.status_code} {r.text}")
    clients = [Client(n, target, rest, s3, signer, args.size, args.keys, tally) for n in range(args.concurrency)]
    started = time.monotonic()
    deadline = started + args.duration
    samples: list[tuple[float, int, int, float]] = []

    async def run(client: Client) -> None:
        while time.monotonic() < deadline:
            await client.step()

    async def sample() -> None:
        while True:
            elapsed = time.monotonic() - started
            point = (round(elapsed), sum(tally.ops.values()), sum(tally.errors.values()), rss_mib(target.pids))
            samples.append(point)
            print(f"  [{target.name}] {point[0]:4d} s  {point[1]:8d} requests  {point[2]:4d} errors  "
                  f"RSS {point[3]:7.1f} MiB", flush=True)
            if elapsed >= args.duration:
                return
            await asyncio.sleep(min(args.sample_every, max(0.0, deadline - time.monotonic())))

    sampler = asyncio.ensure_future(sample())
    await asyncio.gather(*(run(c) for c in clients))
    await sampler
    await rest.aclose()
    await s3.aclose()
    elapsed = time.monotonic() - started
    rss = [s[3] for s in samples]
    settled = rss[1:] or rss  # the first sample is taken before any load
    return {
        "target": target.name, "duration_s": round(elapsed, 1), "concurrency": args.concurrency,
        "requests": sum(tally.ops.values()), "rate": round(sum(tally.ops.values()) / elapsed, 1),
        "errors": sum(tally.errors.values()), "errors_by_op": dict(tally.errors), "examples": tally.examples,
        "ops": dict(tally.ops), "rss_mib": rss,
        "rss_growth_mib": round(settled[-1] - settled[0], 1) if settled else None,
        "rss_peak_mib": max(rss) if rss else None,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['target']}: {result['requests']} requests in {result['duration_s']} s "
        f"({result['rate']}/s) at concurrency {result['concurrency']}",
        f"  errors: {result['errors']} (target 0)" + (f"  {result['errors_by_op']}" if result["errors"] else ""),
        *(f"    {e}" for e in result["examples"]),
        "  per op: " + ", ".join(f"{k} {v}" for k, v in sorted(result["ops"].items())),
        "  RSS (MiB, every sample): " + " ".join(str(x) for x in result["rss_mib"]),
        f"  RSS growth after the first loaded sample: {result['rss_growth_mib']} MiB (should stay near 0); "
        f"peak {result['rss_peak_mib']} MiB",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = []
    with start_targets(backends, args.workers, upstream=False) as targets:
        for target in targets:
            target.bucket = "soak"
            print(f"soak: {target.description}, {args.duration} s at concurrency {args.concurrency}", flush=True)
            results.append(asyncio.run(soak(target, args)))
    print()
    for result in results:
        print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
