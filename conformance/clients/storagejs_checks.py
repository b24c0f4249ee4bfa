"""supabase-js's storage client (@supabase/storage-js from npm), run by Node.js; `NodeSuite`
is also the runner of the other Node clients (tusjs_checks.py).

The checks live in conformance/js/checks.mjs; this module installs the package on demand
(`npm install` when node_modules is missing), runs the script against the target and
records the one JSON line it prints per check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from conformance.clients.common import PAGED_COUNT, paged_rest_bucket, sample_jpeg
from conformance.runner import EXTERNAL, Context, ExternalSuite
from conformance.target import Target

JS_DIR = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS_DIR / "checks.mjs"
_install_lock = threading.Lock()


PACKAGES = ("@supabase/storage-js", "tus-js-client")  # conformance/js/package.json


def npm_install() -> str | None:
    """Install conformance/js's packages into its node_modules once; an error text or None."""
    with _install_lock:
        if all((JS_DIR / "node_modules" / name).exists() for name in PACKAGES):
            return None
        npm = shutil.which("npm")
        if npm is None:
            return "npm not installed"
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                              capture_output=True, timeout=300)
        if proc.returncode != 0:
            return f"npm install failed: {proc.stderr.decode()[-400:]}"
        return None


class NodeSuite(ExternalSuite):
    """Checks in a Node script of conformance/js that prints one JSON line per check."""

    client = ""
    script = SCRIPT

    def names(self) -> list[str]:
        return re.findall(r"^check\('((?:[^'\\]|\\.)*)'", self.script.read_text(), flags=re.M)

    def environment(self, ctx: Context) -> dict[str, str]:
        return {"CF_REST_URL": ctx.target.rest_url or "", "CF_SERVICE_JWT": ctx.target.service_jwt or ""}

    def skip_reason(self, target: Target) -> str | None:
        if shutil.which("node") is None:
            return "node not installed"
        return None if target.has_rest else "no REST endpoint configured"

    def run(self, ctx: Context) -> Iterable[tuple[str, bool, str]]:
        names = self.names()
        problem = npm_install()
        if problem:
            for n in names:
                yield n, False, problem
            return
        env = {**os.environ, **self.environment(ctx)}
        proc = subprocess.Popen(["node", str(self.script)], cwd=JS_DIR, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        seen: set[str] = set()
        timer = threading.Timer(900, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                seen.add(rec["name"])
                yield rec["name"], bool(rec["ok"]), str(rec.get("message", ""))
            proc.wait()
        finally:
            timer.cancel()
        err = proc.stderr.read()[-400:] if proc.stderr else ""
        for n in names:
            if n not in seen:
                yield n, False, f"not reported (node exited {proc.returncode}): {err}"


class StorageJsSuite(NodeSuite):
    client = "storage-js"

    def environment(self, ctx: Context) -> dict[str, str]:
        try:
            paged = paged_rest_bucket(ctx)
        except Exception:  # noqa: BLE001 - the pagination checks will report it
            paged = ""
        image = ctx.file("render-source.jpg", sample_jpeg())
        return {**super().environment(ctx), "CF_PAGED_BUCKET": paged, "CF_PAGED_COUNT": str(PAGED_COUNT),
                "CF_IMAGE_PATH": str(image)}


EXTERNAL["storage-js"] = StorageJsSuite()
