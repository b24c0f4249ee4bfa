"""The start-up banner says where the database is: embedded, or from DATABASE_URL
(it said DATABASE_URL in both cases, since `resolve()` fills the URL in first)."""

from __future__ import annotations

import pytest

from s3proxy import server
from s3proxy.config import Settings


def test_the_banner_names_the_embedded_database_only_when_one_was_started(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(jwt_secret="s" * 40, database_url="postgresql://127.0.0.1/postgres", data_dir="state")
    assert "database      DATABASE_URL" in server.banner(settings)
    monkeypatch.setattr(server, "_embedded_pg", object())
    assert "database      embedded Postgres in state" in server.banner(settings)


def test_the_banner_shows_only_secrets_it_generated() -> None:
    """Configured secrets stay out of the banner (it goes to a container's log); the
    generated ones are shown for a quick start."""
    settings = Settings(jwt_secret="configured-secret-" * 3, database_url="postgresql://127.0.0.1/postgres",
                        s3_protocol_access_key_id="key-id", s3_protocol_access_key_secret="configured-s3-secret",
                        service_key="configured.service.key")
    quiet = server.banner(settings, server._generated_secrets(settings))
    assert "configured-s3-secret" not in quiet and "configured.service.key" not in quiet
    assert "eyJ" not in quiet and "key-id" in quiet
    shown = server.banner(settings, ("jwt", "s3"))
    assert "configured-s3-secret" in shown and "service_role JWT  configured.service.key" in shown
