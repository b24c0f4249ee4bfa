"""`/status`, `/version` and `/health` (reference §2.1)."""

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
    policies = {"GET": Policy(Auth.JWT, "storage.health")}

    async def get(self) -> None:
        self.send_json({"healthy": await health.is_healthy(self.ctx)})
