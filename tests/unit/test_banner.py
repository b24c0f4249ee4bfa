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
