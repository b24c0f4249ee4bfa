"""The production container starts, proven without a Docker engine: the Dockerfile's
command, ENV and USER (non-root), in a read-only working directory, with the compose
s3proxy service's environment, against the rig's Postgres and SeaweedFS.

Only addresses change: compose's `postgres:5432` and `seaweedfs:8333` become the rig's,
the upstream keys become the rig's, and the ports become free ones (this machine is
shared). The `s3proxy` on PATH is a console script like the one pip writes in the image,
running this checkout's package. It used to crash with `PermissionError ... .s3proxy`
(secrets were always written) and exit with a traceback when Postgres was not up yet.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt as pyjwt
import psutil
import pytest
import pyvips
import yaml
from botocore.config import Config

from tests.proxy import TcpProxy, postgres_target, via_proxy
from tests.rig import REPO, Postgres, SeaweedFS, free_port, stop_process, wait_for_http

DOCKER = REPO / "docker"


def dockerfile() -> dict[str, Any]:
    """CMD/ENTRYPOINT (exec form), ENV, USER and WORKDIR of docker/Dockerfile."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, Any] = {"env": {}, "entrypoint": [], "cmd": [], "user": "root", "workdir": "/"}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction in ("CMD", "ENTRYPOINT"):
            out[instruction.lower()] = json.loads(rest)  # exec form: no shell in between
        elif instruction == "ENV":
            out["env"].update(item.split("=", 1) for item in shlex.split(rest))
        elif instruction in ("USER", "WORKDIR"):
            out[instruction.lower()] = rest.strip()
    return out


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())  # type: ignore[no-any-return]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_runs_the_services_the_way_production_needs() -> None:
    services = compose()["services"]
    for name in ("postgres", "seaweedfs", "s3proxy"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    proxy = services["s3proxy"]
    assert proxy["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert proxy["depends_on"]["seaweedfs-bucket"] == {"condition": "service_completed_successfully"}
    assert proxy["read_only"] is True
    env = _environment(proxy)
    assert env["AUTH_JWT_SECRET"] and env["S3_PROTOCOL_ACCESS_KEY_ID"] and env["S3_PROTOCOL_ACCESS_KEY_SECRET"]
    image = dockerfile()
    assert image["user"].split(":")[0] not in ("root", "0")
    assert image["cmd"][0] == "s3proxy"


# --- running it -----------------------------------------------------------------------


@pytest.fixture
def readonly_dir() -> Iterator[Path]:
    """The container's WORKDIR: root-owned, nobody may write to it."""
    path = Path(tempfile.mkdtemp(prefix="s3proxy-app-"))
    path.chmod(0o555)
    yield path
    path.chmod(0o755)
    shutil.rmtree(path)


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """PATH of the image: `s3proxy` (the console script pip writes), `python`, and `weed`
    for the bucket init service."""
    path = Path(tempfile.mkdtemp(prefix="s3proxy-bin-"))
    script = path / "s3proxy"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom s3proxy.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (path / "python").symlink_to(sys.executable)
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    (path / "weed").symlink_to(weed)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _as_user(user: str, argv: list[str], env: dict[str, str]) -> list[str]:
    """`argv` run as the Dockerfile's USER (uid:gid, no name needed) when we are root.
    Where that user cannot run this interpreter (one installed under /root, say: the
    probe fails or another Python answers), the process also keeps CAP_DAC_READ_SEARCH:
    it may read and enter anything, but writes only where that user may, which is what
    the test checks."""
    if os.geteuid() != 0:
        return argv  # already unprivileged
    uid, _, gid = user.partition(":")
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import sys; print(sys.version)"],
                           capture_output=True, text=True, env=env)
    if probe.returncode != 0 or probe.stdout.strip() != sys.version:
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return prefix + argv


def _rig_environment(image: dict[str, Any], service: dict[str, Any], bin_dir: Path, database_url: str,
                     upstream: SeaweedFS, ports: tuple[int, int]) -> dict[str, str]:
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO)}
    env |= image["env"] | _environment(service)
    env |= {
        "DATABASE_URL": database_url,
        "STORAGE_S3_ENDPOINT": upstream.endpoint,
        "AWS_ACCESS_KEY_ID": upstream.key_id,
        "AWS_SECRET_ACCESS_KEY": upstream.secret,
        "SERVER_PORT": str(ports[0]),
        "S3_PORT": str(ports[1]),
    }
    return env


def _create_bucket_as_compose_does(services: dict[str, Any], upstream: SeaweedFS, env: dict[str, str]) -> None:
    """The seaweedfs-bucket service's command, twice (a restarted stack runs it again)."""
    init = services["seaweedfs-bucket"]
    script = init["command"][0].replace("seaweedfs:9333", f"127.0.0.1:{upstream.ports['master']}")
    for _ in range(2):
        done = subprocess.run([*init["entrypoint"], script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def _snapshot(path: Path) -> tuple[list[str], float]:
    return sorted(os.listdir(path)), path.stat().st_mtime


def test_the_image_command_serves_as_a_non_root_user_in_a_read_only_directory(
    postgres: Postgres, upstream: SeaweedFS, readonly_dir: Path, bin_dir: Path
) -> None:
    image, services = dockerfile(), compose()["services"]
    service = services["s3proxy"]
    ports = (free_port(), free_port())
    database = postgres.new_database("s3proxy_docker")
    with TcpProxy(postgres_target(database)) as pg:  # compose reaches Postgres over TCP
        env = _rig_environment(image, service, bin_dir, via_proxy(database, pg.port), upstream, ports)
        _create_bucket_as_compose_does(services, upstream, env)
        before = _snapshot(readonly_dir)
        command = image["entrypoint"] + image["cmd"]
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(_as_user(image["user"], command, env), cwd=readonly_dir, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{ports[0]}/"
            wait_for_http(base + "status", timeout=90, proc=proc)
            _check_serving(proc, env, base, ports[1], upstream)
            health = [a.replace(":5000/", f":{ports[0]}/") for a in service["healthcheck"]["test"][1:]]
            done = subprocess.run(_as_user(image["user"], health, env), cwd=readonly_dir, env=env,
                                  capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
        finally:
            stop_process(proc, grace=20)
            log.seek(0)
            output = log.read().decode(errors="replace")
            log.close()
            print(output)  # shown when the test fails
        assert proc.returncode == 0, output
        assert "Traceback" not in output, output
        assert _snapshot(readonly_dir) == before  # wrote nothing where it runs


def _check_serving(proc: subprocess.Popen[bytes], env: dict[str, str], base: str, s3_port: int,
                   upstream: SeaweedFS) -> None:
    for process in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
        assert process.uids().real != 0 and process.uids().effective != 0
    workers = psutil.Process(proc.pid).children()
    assert len(workers) == int(env["WORKERS"])

    assert httpx.get(base + "status").status_code == 200  # liveness: no credentials
    token = pyjwt.encode({"role": "service_role", "iat": int(time.time())}, env["AUTH_JWT_SECRET"],
                         algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(base + "bucket", json={"name": "docker"}, headers=headers)
    assert r.status_code == 200, r.text
    r = httpx.post(base + "object/docker/hello.txt", content=b"from the image", headers=headers)
    assert r.status_code == 200, r.text
    r = httpx.get(base + "bucket", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 400  # and a bad token is refused
    # images render in process (libvips loads on the first render), as the non-root user
    picture = bytes(pyvips.Image.black(64, 48).pngsave_buffer())
    r = httpx.post(base + "object/docker/pic.png", content=picture, headers={**headers, "Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    r = httpx.get(base + "render/image/authenticated/docker/pic.png", params={"width": 32},
                  headers={**headers, "Accept": "image/webp"})
    assert (r.status_code, r.headers.get("content-type")) == (200, "image/webp"), r.text

    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="us-east-1",
                      aws_access_key_id=env["S3_PROTOCOL_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["S3_PROTOCOL_ACCESS_KEY_SECRET"],
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert s3.get_object(Bucket="docker", Key="hello.txt")["Body"].read() == b"from the image"
    stored = upstream.client().list_objects_v2(Bucket=env["STORAGE_S3_BUCKET"])  # compose's bucket
    assert any("/docker/hello.txt/" in item["Key"] for item in stored.get("Contents", []))

