"""A tiny check registry and runner.

A check is a function taking a `Context`, registered with `@check(client, name)`. It
states one contract as the client sees it and raises (anything) when the contract does
not hold. Clients whose tool is missing are skipped with a reason. Clients that run
their own checks in another process (storage-js) register an `ExternalSuite`.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import traceback
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.target import Target

CLIENTS = ["boto3", "aws-cli", "rclone", "storage3", "storage-js", "tus-js", "tuspy", "http"]


class CheckFailed(AssertionError):
    """A contract did not hold."""


class Skip(Exception):
    """The check cannot run here (missing tool or endpoint); not a failure."""


def ensure(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def equal(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        a, e = repr(actual), repr(expected)
        raise CheckFailed(f"{what}: expected {e[:300]}, got {a[:300]}")


def raises(fn: Callable[[], object], what: str) -> BaseException:
    """Run `fn`, expecting it to fail; returns the exception."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any failure is what we want
        return exc
    raise CheckFailed(f"{what}: expected an error, the call succeeded")


@dataclass
class Check:
    client: str
    name: str
    fn: Callable[[Context], None]
    timeout: float


@dataclass
class Result:
    client: str
    label: str
    name: str
    status: str  # passed | failed | skipped
    message: str = ""
    seconds: float = 0.0


REGISTRY: list[Check] = []
REQUIREMENTS: dict[str, Callable[[Target], str | None]] = {}


def check(client: str, name: str, timeout: float = 90.0) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a check: `@check("boto3", "uploads: empty object round-trips")`."""

    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        if any(c.client == client and c.name == name for c in REGISTRY):
            raise ValueError(f"duplicate check {client}: {name}")
        REGISTRY.append(Check(client, name, fn, timeout))
        return fn

    return register


def requirement(client: str) -> Callable[[Callable[[Target], str | None]], Callable[[Target], str | None]]:
    """Register a function that returns a skip reason for `client` on a target, or None."""

    def register(fn: Callable[[Target], str | None]) -> Callable[[Target], str | None]:
        REQUIREMENTS[client] = fn
        return fn

    return register


class ExternalSuite:
    """Checks run by another program; `run` yields (name, passed, message) per check."""

    client = ""

    def names(self) -> list[str]:
        raise NotImplementedError

    def run(self, ctx: Context) -> Iterable[tuple[str, bool, str]]:
        raise NotImplementedError


EXTERNAL: dict[str, ExternalSuite] = {}


class Shared:
    """Per-target fixtures shared by several clients (e.g. a bucket with >1000 keys)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._errors: dict[str, str] = {}
        self._cleanups: list[Callable[[], None]] = []

    def get(self, key: str, factory: Callable[[Shared], Any]) -> Any:
        with self._lock:
            if key in self._errors:
                raise CheckFailed(f"shared fixture {key} could not be built: {self._errors[key]}")
            if key not in self._values:
                try:
                    self._values[key] = factory(self)
                except Exception as exc:
                    self._errors[key] = f"{type(exc).__name__}: {exc}"
                    raise
            return self._values[key]

    def at_end(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def close(self) -> None:
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass


class Context:
    """What a check gets: the target, unique names, a scratch directory, cleanups."""

    def __init__(self, target: Target, client: str, shared: Shared, workdir: Path) -> None:
        self.target = target
        self.client = client
        self.shared = shared
        self.workdir = workdir
        self._memo: dict[str, Any] = {}
        self._deferred: list[Callable[[], object]] = []
        self._end: list[Callable[[], None]] = []

    def name(self, hint: str = "b") -> str:
        """A unique, S3-valid (lowercase, 3-63 chars) bucket or key name."""
        slug = "".join(ch if ch.isalnum() else "-" for ch in hint.lower()).strip("-")[:30] or "b"
        return f"cf-{slug}-{uuid.uuid4().hex[:10]}"

    def path(self, name: str) -> Path:
        return self.workdir / name

    def file(self, name: str, data: bytes) -> Path:
        p = self.workdir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    def defer(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run after the current check, whatever its outcome (errors ignored)."""
        self._deferred.append(lambda: fn(*args, **kwargs))

    def once(self, key: str, factory: Callable[[], Any]) -> Any:
        """A value made once per client run (a configured client, a shared bucket)."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    def at_end(self, fn: Callable[[], None]) -> None:
        """Run after all of this client's checks."""
        self._end.append(fn)

    def run_deferred(self) -> None:
        while self._deferred:
            fn = self._deferred.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass

    def close(self) -> None:
        self.run_deferred()
        for fn in reversed(self._end):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass


def _run_one(chk: Check, ctx: Context) -> tuple[str, str]:
    outcome: dict[str, tuple[str, str]] = {}

    def body() -> None:
        try:
            chk.fn(ctx)
            outcome["r"] = ("passed", "")
        except Skip as exc:
            outcome["r"] = ("skipped", str(exc))
        except CheckFailed as exc:
            outcome["r"] = ("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a crash is a failure, with its story
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                          if "conformance" in f.filename), "")
            outcome["r"] = ("failed", f"{type(exc).__name__}: {exc} [{where}]")
        finally:
            ctx.run_deferred()

    thread = threading.Thread(target=body, daemon=True, name=f"check {chk.client}: {chk.name}")
    thread.start()
    thread.join(chk.timeout)
    if thread.is_alive():
        return "failed", f"timed out after {chk.timeout:.0f}s"
    return outcome.get("r", ("failed", "no outcome"))


def selected(clients: list[str], pattern: str | None) -> Iterator[Check]:
    for chk in REGISTRY:
        if chk.client in clients and (not pattern or pattern.lower() in f"{chk.client}: {chk.name}".lower()):
            yield chk


def run_unit(client: str, target: Target, shared: Shared, pattern: str | None,
             progress: Callable[[Result], None]) -> list[Result]:
    """All checks of one client against one target, in registration order."""
    results: list[Result] = []
    requirement_fn = REQUIREMENTS.get(client)
    reason = requirement_fn(target) if requirement_fn else None
    external = EXTERNAL.get(client)
    if external is not None and reason is None:
        reason = getattr(external, "skip_reason", lambda _t: None)(target)
    names = ([n for n in external.names() if not pattern or pattern.lower() in f"{client}: {n}".lower()]
             if external else [c.name for c in selected([client], pattern)])
    if reason is not None:
        for n in names:
            r = Result(client, target.label, n, "skipped", reason)
            results.append(r)
            progress(r)
        return results
    workdir = Path(tempfile.mkdtemp(prefix=f"conformance-{client}-"))
    ctx = Context(target, client, shared, workdir)
    try:
        if external is not None:
            ctx.pattern = pattern  # type: ignore[attr-defined]
            started = time.monotonic()
            for n, ok, message in external.run(ctx):
                if pattern and pattern.lower() not in f"{client}: {n}".lower():
                    continue
                r = Result(client, target.label, n, "passed" if ok else "failed", message,
                           time.monotonic() - started)
                started = time.monotonic()
                results.append(r)
                progress(r)
            return results
        for chk in selected([client], pattern):
            started = time.monotonic()
            status, message = _run_one(chk, ctx)
            r = Result(client, target.label, chk.name, status, message, time.monotonic() - started)
            results.append(r)
            progress(r)
        return results
    finally:
        ctx.close()
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(targets: list[Target], clients: list[str], pattern: str | None, jobs: int,
            progress: Callable[[Result], None]) -> list[Result]:
    shareds = {t.label: Shared(t) for t in targets}
    # the slowest clients (one subprocess per command) start first, so they set the pace
    slow = {"aws-cli": 0, "rclone": 1, "boto3": 2}
    units = sorted(((c, t) for t in targets for c in clients), key=lambda u: slow.get(u[0], 3))
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_unit, c, t, shareds[t.label], pattern, progress) for c, t in units]
            out: list[Result] = []
            for fut in futures:
                out.extend(fut.result())
        return out
    finally:
        for s in shareds.values():
            s.close()


# --- reporting ----------------------------------------------------------------------


def scoreboard(results: list[Result], clients: list[str], labels: list[str]) -> list[str]:
    lines = []
    width = max(len(f"{c} [{lbl}]") for c in clients for lbl in labels) if results else 10
    for lbl in labels:
        for c in clients:
            rs = [r for r in results if r.client == c and r.label == lbl]
            if not rs:
                continue
            head = f"{c} [{lbl}]" if len(labels) > 1 or lbl != "target" else c
            p = sum(r.status == "passed" for r in rs)
            f = sum(r.status == "failed" for r in rs)
            s = sum(r.status == "skipped" for r in rs)
            secs = sum(r.seconds for r in rs)
            line = f"{head:<{width}}  {p:4d} passed, {f:3d} failed  ({secs:4.0f}s)"
            if s:
                reasons = sorted({r.message for r in rs if r.status == "skipped"})
                line = line.replace("  (", f", {s} skipped ({'; '.join(reasons)})  (", 1)
            lines.append(line)
    return lines


def summary_line(results: list[Result]) -> str:
    p = sum(r.status == "passed" for r in results)
    f = sum(r.status == "failed" for r in results)
    skipped = [r for r in results if r.status == "skipped"]
    line = f"{p} passed, {f} failed"
    if skipped:
        reasons: list[str] = []
        for r in skipped:
            if r.message not in reasons:
                reasons.append(r.message)
        line += f", {len(skipped)} skipped ({'; '.join(reasons)})"
    return line


def write_junit(results: list[Result], path: Path) -> None:
    root = ET.Element("testsuites", name="conformance")
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.client, r.label), []).append(r)
    for (client, label), rs in groups.items():
        suite = ET.SubElement(
            root, "testsuite", name=f"{client} [{label}]", tests=str(len(rs)),
            failures=str(sum(r.status == "failed" for r in rs)),
            skipped=str(sum(r.status == "skipped" for r in rs)), errors="0",
            time=f"{sum(r.seconds for r in rs):.3f}",
        )
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=f"{client}.{label}", name=r.name,
                                 time=f"{r.seconds:.3f}")
            if r.status == "failed":
                ET.SubElement(case, "failure", message=r.message[:500]).text = r.message
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=r.message)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
