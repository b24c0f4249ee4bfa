"""In-process throughput and memory of the image engine (s3proxy.imaging).

    python -m bench.render_engine [--renders 60] [--clients 1,16] [--pool 0] [--arena-max 0]

Renders one 4000x3000 photo-like JPEG (~3 MB) to a 400 px wide WebP (~50 KB), as a
browser asking `?width=400` gets it, with `clients` coroutines calling
`ImageRenderer.render` at once. Each concurrency level runs in a
fresh child process so that its peak RSS is its own: `base` is the RSS after one
warm-up render (Python, libvips and the source loaded), `peak` the highest RSS sampled
every 5 ms during the run. `--pool 0` sizes the engine's thread pool to the cores, as
in production; `--arena-max N` sets MALLOC_ARENA_MAX in the children.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def make_source() -> bytes:
    """A 4000x3000 JPEG that compresses like a photograph (~3 MB at Q85): gradients plus
    coarse, medium and fine noise, so detail survives the downscale as in a real photo."""
    import pyvips

    width, height = 4000, 3000
    xyz = pyvips.Image.xyz(width, height)
    bands = []
    for base in (xyz[0] * 255 / width, xyz[1] * 255 / height, (xyz[0] + xyz[1]) * 255 / (width + height)):
        coarse = pyvips.Image.gaussnoise(width // 16, height // 16, mean=0, sigma=40).resize(16, kernel="cubic")
        medium = pyvips.Image.gaussnoise(width // 4, height // 4, mean=0, sigma=20).resize(4, kernel="linear")
        fine = pyvips.Image.gaussnoise(width, height, mean=0, sigma=6)
        bands.append((base * 0.5 + 64 + coarse + medium + fine).cast("uchar"))
    image = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=85))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(source_path: str, clients: int, pool: int, renders: int) -> dict[str, Any]:
    from s3proxy.imaging import ImageRenderer, TransformOptions

    source = Path(source_path).read_bytes()
    engine = ImageRenderer(concurrency=pool or None)
    options = TransformOptions(width=400)
    accept = "image/avif,image/webp,*/*"
    warm = asyncio.run(engine.render(source, options, accept))
    base = _rss()
    peak = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    latencies: list[float] = []

    async def run() -> None:
        left = renders

        async def client() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                started = time.perf_counter()
                await engine.render(source, options, accept)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client() for _ in range(clients)))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stop.set()
    sampler.join()
    engine.close()
    latencies.sort()
    return {
        "clients": clients,
        "pool": engine.concurrency,
        "renders": len(latencies),
        "renders_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p90_ms": 1000 * latencies[int(0.9 * (len(latencies) - 1))],
        "cpu_per_render_ms": 1000 * cpu / len(latencies),
        "base_rss_mib": base / 2**20,
        "peak_rss_mib": peak / 2**20,
        "output": f"{warm.content_type} {warm.width}x{warm.height} {len(warm.body)} B",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=60)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--pool", type=int, default=0, help="engine threads (0: number of cores)")
    parser.add_argument("--arena-max", type=int, default=0, help="MALLOC_ARENA_MAX for the children (0: unset)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.source, int(args.clients), args.pool, args.renders)))
        return

    env = dict(os.environ)
    if args.arena_max:
        env["MALLOC_ARENA_MAX"] = str(args.arena_max)
    with tempfile.TemporaryDirectory() as tmp:
        source_path = Path(tmp) / "source.jpg"
        source_path.write_bytes(make_source())
        print(f"source: 4000x3000 JPEG, {source_path.stat().st_size} B; cores: {os.cpu_count()}")
        for clients in (int(c) for c in args.clients.split(",")):
            out = subprocess.run(
                [sys.executable, "-m", "bench.render_engine", "--child", "--source", str(source_path),
                 "--clients", str(clients), "--pool", str(args.pool), "--renders", str(args.renders)],
                check=True, capture_output=True, text=True, env=env,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"clients {r['clients']:>3} pool {r['pool']:>2}: {r['renders_per_s']:6.1f} renders/s, "
                  f"p50 {r['p50_ms']:6.1f} ms, p90 {r['p90_ms']:6.1f} ms, "
                  f"CPU {r['cpu_per_render_ms']:5.1f} ms/render, RSS base {r['base_rss_mib']:5.1f} MiB "
                  f"peak {r['peak_rss_mib']:5.1f} MiB  [{r['output']}]")


if __name__ == "__main__":
    main()
