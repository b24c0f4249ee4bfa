"""Session fixtures: one Postgres, one SeaweedFS, one s3proxy per backend.

`server` is parametrized over both backends, so every test that uses it runs on
the file backend and on the upstream-S3 backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.rig import Postgres, SeaweedFS, Server

BACKENDS = ["file", "s3"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    yield pg
    pg.close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[SeaweedFS]:
    weed = SeaweedFS().start()
    yield weed
    weed.close()


_servers: dict[str, Server] = {}


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, postgres: Postgres) -> Iterator[Server]:
    """A running s3proxy on the backend of the parameter (file | s3)."""
    backend = request.param
    upstream = request.getfixturevalue("upstream") if backend == "s3" else None
    srv = Server(backend=backend, database_url=postgres.new_database(f"s3proxy_{backend}"), upstream=upstream)
    with srv.running():
        yield srv


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """A plain HTTP client on the REST base URL, authenticated as service_role."""
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A short unique suffix for bucket and key names, so tests never collide."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def bucket(server: Server, http: httpx.Client, unique: str) -> Iterator[str]:
    """A fresh empty bucket, emptied and removed after the test."""
    name = f"b-{unique}"
    r = http.post("bucket", json={"name": name})
    assert r.status_code == 200, r.text
    yield name
    http.post(f"bucket/{name}/empty", json={})
    http.delete(f"bucket/{name}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded pgserver'}"
