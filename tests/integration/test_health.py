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


def test_health_needs_a_token(server: Server) -> None:
    r = httpx.get(server.url + "health")
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidRequest"
    r = httpx.get(server.url + "health", headers=server.headers(server.anon_token))
    assert r.status_code == 200
    assert r.json() == {"healthy": True}


def test_unknown_route_is_404_json(server: Server) -> None:
    r = httpx.get(server.url + "bucketz/nothing", headers=server.headers())
    assert r.status_code == 404
    assert r.json() == {
        "statusCode": "404",
        "error": "Not Found",
        "message": "Route GET:/bucketz/nothing not found",
        "code": "InvalidRequest",
    }
