"""tus-js-client (npm), as supabase-js documents it, against both backends: the checks
of conformance/js/tus_checks.mjs, each of which must pass."""

from __future__ import annotations

import json
import os
import subprocess

from conformance.clients.storagejs_checks import JS_DIR, npm_install
from tests.rig import Server


def test_tus_js_client(server: Server) -> None:
    problem = npm_install()
    assert problem is None, problem
    env = {**os.environ, "CF_REST_URL": server.url, "CF_SERVICE_JWT": server.service_token}
    proc = subprocess.run(["node", str(JS_DIR / "tus_checks.mjs")], cwd=JS_DIR, env=env, capture_output=True,
                          text=True, timeout=600)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    listed = subprocess.run(["node", str(JS_DIR / "tus_checks.mjs"), "--list"], cwd=JS_DIR, env=env, capture_output=True,
                            text=True, timeout=60).stdout.splitlines()
    assert [r["name"] for r in results] == listed, proc.stderr[-2000:]
    assert [r for r in results if not r["ok"]] == []
