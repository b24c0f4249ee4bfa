"""Image rendering through the HTTP route: renders per second and server RSS.

`rest_render_webp` uploads one 4000x3000 photo-like JPEG (~3 MB, made by
bench/render_engine.py's `make_source`) and asks
`GET /render/image/authenticated/{bucket}/{key}?width=400` with `Accept: image/webp`,
as a browser showing a thumbnail does: every request reads the 3 MB source from the
backend and renders a 400x300 WebP (~50 KB). Nothing is cached, so req/s is renders/s;
srvRSS is the peak summed over the server's processes while they render.
(`python -m bench.render_engine` measures the engine alone, without HTTP or storage.)
"""

from __future__ import annotations

import threading

import httpx

from bench.scenarios import RUN_ID, Context, LoadFactory, RateScenario, ScenarioError, rest_path, rest_upload
from bench.targets import Target
from bench.wrk import Load, origin, write_lines

WIDTH = 400
_source: list[bytes] = []
_source_lock = threading.Lock()


def source() -> bytes:
    """The 4000x3000 JPEG, made once per bench run (a few CPU-seconds)."""
    with _source_lock:
        if not _source:
            from bench.render_engine import make_source

            _source.append(make_source())
        return _source[0]


def rest_render_webp(target: Target, ctx: Context) -> LoadFactory:
    """GET /render/image/authenticated/{bucket}/{key}?width=400, Accept: image/webp."""
    import pyvips

    key = f"bench/{RUN_ID}/render/photo.jpg"
    path = rest_path(target, f"render/image/authenticated/{target.bucket}/{key}?width={WIDTH}")
    headers = {**target.rest_headers(), "Accept": "image/webp,*/*"}
    base = origin(target.rest_url or "")
    with httpx.Client(timeout=120) as client:
        rest_upload(client, target, key, source())
        probe = client.get(base + path, headers=headers)
        if probe.status_code != 200 or probe.headers.get("content-type") != "image/webp":
            raise ScenarioError(f"render probe: HTTP {probe.status_code} {probe.headers.get('content-type')} "
                                f"{probe.text[:200]!r}")
        image = pyvips.Image.new_from_buffer(probe.content, "")
        if (image.width, image.height) != (WIDTH, 300):
            raise ScenarioError(f"render probe returned {image.width}x{image.height}, not {WIDTH}x300")
    # one line per wrk thread at least (a thread without lines would ask for "/")
    lines = write_lines(ctx.workdir / f"{target.name}-rest_render_webp.lines", [("GET", path)] * 4)
    load = Load(base_url=base, mode="lines", source=lines, headers=headers)
    return lambda: load


RENDER_SCENARIOS: list[RateScenario] = [
    RateScenario("rest_render_webp", "rest", rest_render_webp, "",
                 "REST render 4000x3000 JPEG -> 400 px WebP (renders/s)"),
]
