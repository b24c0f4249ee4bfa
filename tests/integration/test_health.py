"""`/status`, `/version`, `/health` and the REST error envelope for unknown routes."""

from __future__ import annotations

import httpx

from tests.rig import Server


def test_status_answers_without_auth(server: Server) -> None:
    r = httpx.get(server.url + "status")
    assert r.status_code == 200
    assert r.content == b""


def test_version_is_plain_text(server: Server) -> None:
    r = httpx.get(server.url + "version")
    assert r.status_code == 200
    assert r.text


def test_health_is_readiness_without_a_token(server: Server) -> None:
    """Reference shape `{"healthy": true}` plus one entry per dependency; no credentials
    needed (a bad one changes nothing), nothing secret in the answer."""
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, server.headers(server.anon_token)):
        r = httpx.get(server.url + "health", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["healthy"] is True
        assert body["database"]["ok"] is True and body["database"]["latency_ms"] >= 0
        assert body["backend"] == {"type": server.backend, "ok": True, "latency_ms": body["backend"]["latency_ms"]}
    text = r.text
    for secret in (server.jwt_secret, server.s3_secret, server.database_url, "127.0.0.1"):
        assert secret not in text


def test_unknown_route_is_404_json(server: Server) -> None:
    r = httpx.get(server.url + "bucketz/nothing", headers=server.headers())
    assert r.status_code == 404
    assert r.json() == {
        "statusCode": "404",
        "error": "Not Found",
        "message": "Route GET:/bucketz/nothing not found",
        "code": "InvalidRequest",
    }
