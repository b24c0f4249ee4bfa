"""`/status`, `/version` and `/health` (reference §2.1)."""

from __future__ import annotations

from s3proxy.rest.base import RestHandler
from s3proxy.storage import health


class StatusHandler(RestHandler):
    def get(self) -> None:
        self.set_status(200)
        self.finish()

    head = get


class VersionHandler(RestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.store.settings.version)


class HealthHandler(RestHandler):
    async def get(self) -> None:
        principal = self.authenticate()
        healthy = await health.is_healthy(self.ctx(principal))
        self.send_json({"healthy": healthy})
