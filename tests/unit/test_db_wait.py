"""Start-up waits for Postgres with bounded retries, a log line per attempt, and ends
with one line (no traceback, no password) when it gives up."""

from __future__ import annotations

import asyncio
import logging

import pytest

from s3proxy.db.wait import describe, wait_for_database
from tests.rig import free_port


def test_describe_hides_credentials() -> None:
    assert describe("postgresql://user:pw@db.example:6543/storage") == "db.example:6543/storage"
    assert describe("postgresql://postgres:@/postgres?host=/run/pg") == "/run/pg:5432/postgres"


def test_gives_up_after_the_timeout_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://user:hunter2@127.0.0.1:{free_port()}/storage"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="s3proxy")
    with pytest.raises(SystemExit) as caught:
        asyncio.run(wait_for_database(url, 1.5, first_delay=0.2))
    message = str(caught.value.code)
    assert message.startswith("s3proxy: Postgres at 127.0.0.1:") and "within 1.5 s" in message
    assert "hunter2" not in message and "\n" not in message
    attempts = [r.getMessage() for r in caplog.records if "waiting for Postgres" in r.getMessage()]
    assert len(attempts) >= 2 and "attempt 1," in attempts[0] and "attempt 2," in attempts[1]
    assert not any("hunter2" in line for line in attempts)
