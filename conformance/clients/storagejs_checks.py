"""supabase-js's storage client (@supabase/storage-js from npm), run by Node.js.

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


def npm_install() -> str | None:
    """Install @supabase/storage-js into conformance/js/node_modules once; an error text or None."""
    with _install_lock:
        if (JS_DIR / "node_modules" / "@supabase" / "storage-js").exists():
            return None
        npm = shutil.which("npm")
        if npm is None:
            return "npm not installed"
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                              capture_output=True, timeout=300)
        if proc.returncode != 0:
            return f"npm install failed: {proc.stderr.decode()[-400:]}"
        return None


class StorageJsSuite(ExternalSuite):
    client = "storage-js"

    def names(self) -> list[str]:
        return re.findall(r"^check\('((?:[^'\\]|\\.)*)'", SCRIPT.read_text(), flags=re.M)

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
        try:
            paged = paged_rest_bucket(ctx)
        except Exception:  # noqa: BLE001 - the pagination checks will report it
            paged = ""
        image = ctx.file("render-source.jpg", sample_jpeg())
        env = {**os.environ, "CF_REST_URL": ctx.target.rest_url or "", "CF_SERVICE_JWT": ctx.target.service_jwt or "",
               "CF_PAGED_BUCKET": paged, "CF_PAGED_COUNT": str(PAGED_COUNT), "CF_IMAGE_PATH": str(image)}
        proc = subprocess.Popen(["node", str(SCRIPT)], cwd=JS_DIR, env=env, stdout=subprocess.PIPE,
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


EXTERNAL["storage-js"] = StorageJsSuite()
