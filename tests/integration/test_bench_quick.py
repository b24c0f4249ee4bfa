"""`python -m bench --quick` runs every scenario end to end and writes numeric results.

The bench starts its own Postgres, SeaweedFS and s3proxy servers (nothing is shared with
the session fixtures). No timing is asserted: only that every scenario produced figures.
It needs `wrk` (scripts/test.sh installs it; the bench installs it when run as root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.rig import REPO


def test_bench_quick_reports_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "S3_PROTOCOL_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    results = data["results"]
    targets = {t["name"] for t in data["meta"]["targets"]}
    assert {"file", "s3", "upstream"} <= targets

    failures = []
    for target in ("file", "s3"):
        for scenario in data["meta"]["scenarios"]:
            records = [r for r in results if r["target"] == target and r["scenario"] == scenario]
            if not records:
                failures.append(f"{target}/{scenario}: missing")
            for rec in records:
                key = "mib_per_s" if rec["kind"] == "large" else "rps"
                value = rec["median"].get(key)
                if rec["error"] or not isinstance(value, int | float) or not rec["runs"]:
                    failures.append(f"{target}/{scenario} c{rec['concurrency']}: {rec['error'] or value}")
            if records and records[0]["kind"] != "large":
                # latency is None when nothing completed in a 1 s run on a busy machine: not checked
                assert [r["concurrency"] for r in records] == [1, 16, 64]
                assert all("p99_ms" in r["median"] for r in records)
    assert not failures, "\n".join(failures) + "\n" + proc.stdout[-4000:]

    baselines = [r for r in results if r["target"] == "upstream"]
    assert baselines and all(not r["error"] for r in baselines), baselines
    assert any(isinstance(r.get("vs_upstream"), int | float) for r in results if r["target"] != "upstream")
    assert isinstance(data["checks"], list)
