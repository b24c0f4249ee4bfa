"""`python -m bench.clients`: one multipart upload through real client tools, timed.

rclone (aws-sdk-go) sends `Expect: 100-Continue` with a capital C on every part and
waits up to a second for the `100 Continue` before sending the body; a server that only
answers the lower-case form makes each part wait that second (rclone 4x slower than
aws-cli, issue 16 item 7). This uploads the same file with rclone and aws-cli, in the
same part size, against each target (self-started s3proxy per backend and, as the
baseline, SeaweedFS directly) and prints MiB/s, the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.targets import Target, start_targets

MiB = 1024 * 1024


def rclone(target: Target, source: Path, key: str, chunk: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    env.update(RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_T_TYPE="s3", RCLONE_CONFIG_T_PROVIDER="Other",
               RCLONE_CONFIG_T_ENV_AUTH="false", RCLONE_CONFIG_T_ACCESS_KEY_ID=target.access_key or "",
               RCLONE_CONFIG_T_SECRET_ACCESS_KEY=target.secret_key or "", RCLONE_CONFIG_T_ENDPOINT=target.s3_url or "",
               RCLONE_CONFIG_T_REGION=target.region, RCLONE_CONFIG_T_FORCE_PATH_STYLE="true")
    subprocess.run(["rclone", "copyto", str(source), f"t:{target.bucket}/{key}", "--s3-upload-cutoff",
                    f"{chunk // MiB}M", "--s3-chunk-size", f"{chunk // MiB}M", "--retries", "1"],
                   env=env, check=True, capture_output=True, timeout=600)


def aws_cli(target: Target, source: Path, key: str, chunk: int, workdir: Path) -> None:
    config = workdir / "aws-config"
    config.write_text(f"[default]\nregion = {target.region}\ns3 =\n    addressing_style = path\n"
                      f"    multipart_threshold = {chunk // MiB}MB\n    multipart_chunksize = {chunk // MiB}MB\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=target.access_key or "", AWS_SECRET_ACCESS_KEY=target.secret_key or "",
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    aws = str(Path(sys.executable).parent / "aws") if (Path(sys.executable).parent / "aws").exists() else "aws"
    subprocess.run([aws, "--endpoint-url", target.s3_url or "", "s3", "cp", "--only-show-errors", str(source),
                    f"s3://{target.bucket}/{key}"], env=env, check=True, capture_output=True, timeout=600)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64, help="file size in MiB (default 64)")
    p.add_argument("--chunk", type=int, default=5, help="part size in MiB (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="uploads per client and target (median reported)")
    p.add_argument("--backends", default="file,s3")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    if shutil.which("rclone") is None:
        print("rclone is not installed", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-clients-"))
    try:
        source = workdir / "upload.bin"
        with open(source, "wb") as f:
            for _ in range(args.size):
                f.write(os.urandom(MiB))
        chunk = args.chunk * MiB
        with start_targets(args.backends.split(","), args.workers) as targets:
            for target in targets:
                if not target.is_upstream:  # start_targets made the upstream's bucket
                    target.s3_client().create_bucket(Bucket=target.bucket)
            print(f"{args.size} MiB file, {args.chunk} MiB parts, median of {args.repeat}")
            print(f"{'target':<10} {'client':<8} {'MiB/s':>8} {'seconds':>8}")
            for target in targets:
                for name in ("rclone", "aws-cli"):
                    times = []
                    for i in range(args.repeat):
                        start = time.perf_counter()
                        if name == "rclone":
                            rclone(target, source, f"rclone-{i}", chunk)
                        else:
                            aws_cli(target, source, f"awscli-{i}", chunk, workdir)
                        times.append(time.perf_counter() - start)
                    median = statistics.median(times)
                    print(f"{target.name:<10} {name:<8} {args.size / median:>8.1f} {median:>8.2f}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
