"""aws-cli's high-level commands against the S3 port, as a user would run them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

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


def aws_json(server: Server, *args: str, config: str = os.devnull) -> Any:
    out = aws(server, *args, "--output", "json", config=config)
    return json.loads(out) if out.strip() else {}


def aws_fails(server: Server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.s3_key_id, AWS_SECRET_ACCESS_KEY=server.s3_secret,
               AWS_DEFAULT_REGION=server.region, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    result = subprocess.run([AWS, "--endpoint-url", server.s3_url, *args], env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode != 0, f"aws {' '.join(args)} should have failed:\n{result.stdout}"
    return result.stderr


def test_aws_cli_multipart_and_checksum_edges(server: Server, tmp_path: Path) -> None:
    """Issue 16 items 7 and 8 through aws-cli: mb twice, an upload that chooses SHA256
    (echoed), completed twice with the same answer, partNumber beyond the last part,
    paged GetObjectAttributes, `cp`'s composite CRC32, and a presigned URL valid for
    more than a week."""
    bucket = f"cli-{uuid.uuid4().hex[:8]}"
    aws(server, "s3api", "create-bucket", "--bucket", bucket)
    aws(server, "s3api", "create-bucket", "--bucket", bucket)  # yours, us-east-1: 200
    created = aws_json(server, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", "mp",
                       "--checksum-algorithm", "SHA256")
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == ("SHA256", "COMPOSITE")
    upload_id = created["UploadId"]
    bodies = [os.urandom(5 * 1024 * 1024), b"last part"]
    parts = []
    for number, data in enumerate(bodies, start=1):
        path = tmp_path / f"part{number}"
        path.write_bytes(data)
        sent = aws_json(server, "s3api", "upload-part", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id,
                        "--part-number", str(number), "--body", str(path), "--checksum-algorithm", "SHA256")
        parts.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": sent["ChecksumSHA256"]})
    listing = tmp_path / "parts.json"
    listing.write_text(json.dumps({"Parts": parts}))
    complete = ("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id,
                "--multipart-upload", f"file://{listing}")
    first, again = aws_json(server, *complete), aws_json(server, *complete)
    assert first == again and first["ChecksumType"] == "COMPOSITE" and first["ChecksumSHA256"].endswith("-2")
    stderr = aws_fails(server, "s3api", "get-object", "--bucket", bucket, "--key", "mp", "--part-number", "3",
                       str(tmp_path / "out"))
    assert "InvalidPartNumber" in stderr
    attrs = aws_json(server, "s3api", "get-object-attributes", "--bucket", bucket, "--key", "mp",
                     "--object-attributes", "ObjectParts", "Checksum", "--max-parts", "1")
    assert attrs["ObjectParts"]["IsTruncated"] and [p["PartNumber"] for p in attrs["ObjectParts"]["Parts"]] == [1]
    assert attrs["Checksum"]["ChecksumSHA256"] == first["ChecksumSHA256"]

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024) * 12)
    aws(server, "s3", "cp", str(big), f"s3://{bucket}/big.bin")
    head = aws_json(server, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin", "--checksum-mode",
                    "ENABLED")
    assert head["ChecksumType"] == "COMPOSITE" and head["ChecksumCRC32"].endswith("-2")

    config = tmp_path / "config"
    config.write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    url = aws(server, "s3", "presign", f"s3://{bucket}/big.bin", "--expires-in", "604801",
              config=str(config)).strip()
    refused = httpx.get(url)
    assert refused.status_code == 403 and b"<Code>AccessDenied</Code>" in refused.content
    aws(server, "s3", "rb", "--force", f"s3://{bucket}")
