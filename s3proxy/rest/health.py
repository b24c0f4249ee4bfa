"""`/status`, `/version` and `/health` (reference §2.1).

`/status` is liveness: the process answers. `/health` is readiness: Postgres and the
backend both answer (storage/health.py). Unlike the reference it needs no token, so
a load balancer or an orchestrator can ask it, and says nothing secret: Supabase's
`{"healthy": …}` plus one entry per dependency with its state, latency and error code;
HTTP 503 when not ready, so probes need not parse the body.
"""

from __future__ import annotations

from s3proxy.rest.base import Auth, Policy, RestHandler
from s3proxy.storage import health


class StatusHandler(RestHandler):
    policies = {method: Policy(Auth.NONE, "storage.status") for method in ("GET", "HEAD")}

    def get(self) -> None:
        self.set_status(200)
        self.finish()

    head = get


class VersionHandler(RestHandler):
    policies = {"GET": Policy(Auth.NONE, "storage.version")}

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.store.settings.version)


class HealthHandler(RestHandler):
    policies = {"GET": Policy(Auth.NONE, "storage.health")}

    async def get(self) -> None:
        checks = await health.readiness(self.ctx)
        healthy = all(check.ok for check in checks.values())
        body: dict[str, object] = {"healthy": healthy, **{name: c.as_json() for name, c in checks.items()}}
        body["backend"] = {"type": self.store.settings.storage_backend, **checks["backend"].as_json()}
        self.send_json(body, 200 if healthy else 503)
