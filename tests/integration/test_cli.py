"""The command-line contract: `serve` on embedded defaults prints working URLs, keys and
tokens; `token`, `keys` and `migrate`; `--workers N` runs N processes on the same ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import jwt as pyjwt
import psutil
import pytest

from tests.proxy import TcpProxy, postgres_target, via_proxy
from tests.rig import REPO, Postgres, Server, free_port, stop_process, wait_for_http


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`s3proxy ARGS` from this checkout, in `cwd`."""
    env = (os.environ.copy() if env is None else env) | {"PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "s3proxy", *args], capture_output=True, text=True,
                          env=env, cwd=str(cwd), timeout=120)


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    out = _run(*args, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "AUTH_JWT", "STORAGE_", "S3_PROTOCOL", "AWS_", "S3PROXY_", "WORKERS"))}


def test_serve_on_embedded_defaults_prints_what_a_user_needs(tmp_path: Path) -> None:
    port, s3_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "s3proxy", "serve", "--port", str(port), "--s3-port", str(s3_port),
         "--data-dir", str(tmp_path / "state"), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_clean_env(), cwd=str(REPO),
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/status", timeout=120, proc=proc)
        banner = ""
        deadline = time.monotonic() + 10
        while "service_role JWT" not in banner and time.monotonic() < deadline:
            banner += proc.stdout.readline()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/" in banner and f"http://127.0.0.1:{s3_port}/" in banner
        assert re.search(r"S3 access key id\s+\S+", banner)
        assert re.search(r"S3 secret access key\s+\S+", banner)
        token = re.search(r"service_role JWT\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        anon = re.search(r"anon JWT\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        assert pyjwt.decode(anon, options={"verify_signature": False})["role"] == "anon"
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/"
        assert httpx.post(base + "bucket", json={"name": "first"}, headers=headers).json() == {"name": "first"}
        assert [b["name"] for b in httpx.get(base + "bucket", headers=headers).json()] == ["first"]
        # secrets are kept: the CLI mints tokens the server accepts
        env = _clean_env()
        minted = _cli("token", "--role", "service_role", "--data-dir", str(tmp_path / "state"), env=env).strip()
        assert httpx.get(base + "bucket", headers={"Authorization": f"Bearer {minted}"}).status_code == 200
        keys = _cli("keys", "--data-dir", str(tmp_path / "state"), env=env)
        assert re.search(r"S3 access key id\s+(\S+)", banner).group(1) in keys  # type: ignore[union-attr]
        assert oct((tmp_path / "state" / "secrets.json").stat().st_mode)[-3:] == "600"
    finally:
        stop_process(proc, grace=20)


def test_token_claims(tmp_path: Path) -> None:
    env = _clean_env() | {"AUTH_JWT_SECRET": "a-secret-for-the-token-command-0123456789"}
    token = _cli("token", "--role", "authenticated", "--sub", "user-1", "--exp", "60",
                 "--data-dir", str(tmp_path), env=env).strip()
    claims = pyjwt.decode(token, "a-secret-for-the-token-command-0123456789", algorithms=["HS256"])
    assert claims["role"] == "authenticated" and claims["sub"] == "user-1"
    assert 55 <= claims["exp"] - claims["iat"] <= 60
    assert list(tmp_path.iterdir()) == []  # the secret is configured: nothing kept


def test_a_bad_value_stops_with_one_line_naming_the_variable() -> None:
    out = _run("serve", env=_clean_env() | {"WORKERS": "abc"})
    assert out.returncode == 2
    assert out.stderr == "s3proxy: WORKERS: expected an integer, got 'abc'\n"


def test_token_and_keys_read_the_servers_data_dir_and_never_create_secrets(tmp_path: Path) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    for command in ("keys", "token"):  # no secrets anywhere: a clear line, nothing created
        out = _run(command, env=_clean_env(), cwd=elsewhere)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("s3proxy: found neither ") and out.stderr.count("\n") == 1, out.stderr
        assert "--data-dir" in out.stderr
    assert list(elsewhere.iterdir()) == []

    from s3proxy.config import Settings
    from s3proxy.datadir import fill_secrets

    kept = fill_secrets(Settings(data_dir=str(tmp_path / "state")), create=True)  # as `serve` does
    env = _clean_env() | {"S3PROXY_DATA_DIR": str(tmp_path / "state")}
    keys = _run("keys", env=env, cwd=elsewhere)
    assert keys.returncode == 0, keys.stderr
    assert kept.s3_protocol_access_key_id in keys.stdout and kept.s3_protocol_access_key_secret in keys.stdout
    token = _run("token", "--role", "anon", env=env, cwd=elsewhere)
    assert token.returncode == 0, token.stderr
    assert pyjwt.decode(token.stdout.strip(), kept.jwt_secret, algorithms=["HS256"])["role"] == "anon"
    assert list(elsewhere.iterdir()) == []


def test_migrate_is_idempotent(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.new_database("s3proxy_migrate")
    env = _clean_env() | {"DATABASE_URL": url}
    first = _cli("migrate", "--data-dir", str(tmp_path), env=env)
    assert "s3proxy-0002_storage_schema" in first
    assert "up to date" in _cli("migrate", "--data-dir", str(tmp_path), env=env)


def test_serve_help_documents_the_environment() -> None:
    text = _cli("serve", "--help")
    for name in ("DATABASE_URL", "AUTH_JWT_SECRET", "JWT_JWKS", "STORAGE_BACKEND", "STORAGE_FILE_BACKEND_PATH",
                 "FILE_STORAGE_BACKEND_PATH", "STORAGE_S3_BUCKET", "STORAGE_S3_ENDPOINT", "STORAGE_S3_REGION",
                 "STORAGE_S3_FORCE_PATH_STYLE", "S3_PROTOCOL_ACCESS_KEY_ID", "S3_PROTOCOL_ACCESS_KEY_SECRET",
                 "UPLOAD_FILE_SIZE_LIMIT", "LOG_LEVEL", "LOG_FORMAT", "DATABASE_STARTUP_TIMEOUT", "AWS_CA_BUNDLE",
                 "--workers", "--s3-port", "--data-dir"):
        assert name in text


def test_serve_waits_for_postgres_to_come_up(postgres: Postgres) -> None:
    url = postgres.new_database("s3proxy_wait")
    with TcpProxy(postgres_target(url)) as proxy:
        proxy.cut()  # not up yet, as in `docker compose up`
        srv = Server(backend="file", database_url=via_proxy(url, proxy.port),
                     extra_env={"LOG_LEVEL": "INFO"})
        threading.Timer(3.0, proxy.restore).start()
        try:
            srv.start()
            assert httpx.get(srv.url + "bucket", headers=srv.headers()).status_code == 200
            log = srv.log_tail(200)
            assert re.search(r"waiting for Postgres at 127\.0\.0\.1:\d+/s3proxy_wait_\w+ \(attempt 1,", log), log
            assert "Traceback" not in log
        finally:
            srv.close()


def test_serve_gives_up_on_postgres_with_one_line(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.new_database("s3proxy_nowait")
    with TcpProxy(postgres_target(url)) as proxy:
        proxy.cut()
        env = _clean_env() | {"DATABASE_URL": via_proxy(url, proxy.port), "DATABASE_STARTUP_TIMEOUT": "2",
                              "AUTH_JWT_SECRET": "s" * 40}
        started = time.monotonic()
        out = _run("serve", "--workers", "2", "--port", str(free_port()), "--s3-port", str(free_port()),
                   "--data-dir", str(tmp_path), env=env)
        assert out.returncode == 1 and time.monotonic() - started < 30
        assert "Traceback" not in out.stderr, out.stderr
        assert re.search(r"^s3proxy: Postgres at 127\.0\.0\.1:\d+/s3proxy_nowait_\w+ did not accept connections "
                         r"within 2 s \(DATABASE_STARTUP_TIMEOUT\): ", out.stderr, re.M), out.stderr


@pytest.mark.parametrize("workers", [2])
def test_workers_share_the_ports(postgres: Postgres, workers: int) -> None:
    srv = Server(backend="file", database_url=postgres.new_database("s3proxy_workers"), workers=workers)
    srv.start()
    try:
        assert srv.proc is not None
        children = psutil.Process(srv.proc.pid).children()
        assert len(children) == workers
        for child in children:  # every worker listens on both ports
            ports = {c.laddr.port for c in child.net_connections("tcp") if c.status == "LISTEN"}
            assert {srv.port, srv.s3_port} <= ports
        for _ in range(20):
            assert httpx.get(srv.url + "status").status_code == 200
        r = httpx.get(srv.url + "bucket", headers=srv.headers())
        assert r.status_code == 200
    finally:
        srv.stop()
        srv.close()


def test_sigterm_drains_in_flight_requests_and_stops_accepting(postgres: Postgres) -> None:
    srv = Server(backend="file", database_url=postgres.new_database("s3proxy_drain"), workers=2)
    srv.start()
    try:
        assert srv.proc is not None
        assert httpx.post(srv.url + "bucket", json={"name": "drain"}, headers=srv.headers()).status_code == 200
        upload = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        auth = srv.headers()["Authorization"]
        upload.sendall(f"POST /object/drain/late.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
                       "Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello".encode())
        time.sleep(0.3)  # the upload is in its handler, half its body read
        os.kill(srv.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the listening sockets close first
            try:
                socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM")
        upload.sendall(b"world")  # ...while the request in flight still completes
        answer = upload.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert b'"Key":"drain/late.txt"' in answer
        upload.close()
        assert srv.proc.wait(timeout=20) == 0
    finally:
        srv.stop()
        srv.close()
