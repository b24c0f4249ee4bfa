"""`GET /metrics`: Prometheus text for the whole server (metrics.py sums the workers).

Open by default, as the reference's single-tenant `/metrics`; METRICS_TOKEN asks for a
bearer token, METRICS_ENABLED=false makes it a 404 like any unknown route.
"""

from __future__ import annotations

import hmac

from s3proxy import errors, metrics
from s3proxy.rest.base import Auth, Policy, RestHandler


class MetricsHandler(RestHandler):
    """Prometheus metrics of every worker (text exposition format)."""

    policies = {"GET": Policy(Auth.NONE, "storage.metrics")}

    async def begin(self) -> None:
        settings = self.store.settings
        if not settings.metrics_enabled:
            raise errors.RouteNotFound(f"Route {self.request.method}:{self.request.path} not found")
        await super().begin()
        if settings.metrics_token is not None:
            given = (self.bearer_token() or "").encode()
            if not hmac.compare_digest(given, settings.metrics_token.encode()):
                raise errors.AccessDenied("Metrics need the configured METRICS_TOKEN")

    def get(self) -> None:
        body, content_type = metrics.exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)
