"""aws-cli's high-level commands against the S3 port, as a user would run them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.rig import Server

AWS = str(Path(sys.executable).parent / "aws")


def aws(server: Server, *args: str, endpoint: str | None = None, config: str = os.devnull) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.s3_key_id, AWS_SECRET_ACCESS_KEY=server.s3_secret,
               AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=config,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    result = subprocess.run([AWS, "--endpoint-url", endpoint or server.s3_url, *args], env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_aws_cli_flows(server: Server, tmp_path: Path) -> None:
    bucket = f"cli-{uuid.uuid4().hex[:8]}"
    aws(server, "s3", "mb", f"s3://{bucket}")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024) * 40)  # 40 MiB: a multipart upload and a ranged download
    aws(server, "s3", "cp", str(big), f"s3://{bucket}/big.bin")
    back = tmp_path / "back.bin"
    aws(server, "s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    tree = tmp_path / "tree"
    for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt", "ü/d.txt"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(rel)
    aws(server, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    listing = aws(server, "s3", "ls", "--recursive", f"s3://{bucket}")
    for rel in ("big.bin", "tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt", "tree/ü/d.txt"):
        assert rel in listing
    assert "PRE sub/" in aws(server, "s3", "ls", f"s3://{bucket}/tree/")
    assert "upload:" not in aws(server, "s3", "sync", str(tree), f"s3://{bucket}/tree")  # nothing changed
    # aws-cli v1 presigns with SigV2 unless told otherwise (test_s3_sigv2.py); here SigV4
    config = tmp_path / "config"
    config.write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    url = aws(server, "s3", "presign", f"s3://{bucket}/tree/sub/b.txt", "--expires-in", "300",
              config=str(config)).strip()
    assert httpx.get(url).text == "sub/b.txt"
    aws(server, "s3", "rm", "--recursive", f"s3://{bucket}")
    assert aws(server, "s3", "ls", "--recursive", f"s3://{bucket}").strip() == ""
    aws(server, "s3", "rb", f"s3://{bucket}")
    assert bucket not in aws(server, "s3", "ls")
