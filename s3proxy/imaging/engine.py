"""ImageRenderer: renders images off the event loop, a bounded number at a time.

libvips work runs in a private thread pool of `concurrency` threads (default: the
number of cores) and libvips itself is held to one thread per pipeline (vips.configure),
so N renders use N cores and no more. An asyncio semaphore of the same size sits in
front of the pool: a request waits on the loop, cheaply, for a free slot, and a request
cancelled while waiting (client gone) never reaches a thread. Once a render has started
it runs to completion and keeps its slot until then (libvips cannot be interrupted
mid-pipeline without a callback per tile); the source limits bound how long that takes.

pyvips is imported only when the first renderer is created, so a server that never
renders images does not load libvips.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from s3proxy.imaging.limits import ImageLimits
from s3proxy.imaging.options import TransformOptions


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    width: int
    height: int  # of one frame, for an animation


class ImageRenderer:
    """One per event loop (per worker process): its semaphore belongs to one loop."""

    def __init__(self, limits: ImageLimits | None = None, *, concurrency: int | None = None,
                 auto_avif: bool = False, on_render: Callable[[], object] | None = None) -> None:
        from s3proxy.imaging import vips

        vips.configure()
        self._render = vips.render_image
        self.limits = limits or ImageLimits()
        self.concurrency = max(1, concurrency or os.cpu_count() or 1)
        self.auto_avif = auto_avif
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="imaging")
        self._slots: asyncio.Semaphore | None = None
        self._on_render = on_render  # told of each render that runs (metrics)

    async def render(self, source: bytes, options: TransformOptions, accept: str | None) -> Rendered:
        """Transform `source` (the whole object) as `options` ask, for a client that sent
        `accept`; raises TransformError for bad sources and too-large inputs."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        await slots.acquire()
        loop = asyncio.get_running_loop()
        try:
            job = self._pool.submit(self._render, source, options, accept, self.limits, self.auto_avif)
        except BaseException:
            slots.release()
            raise
        # The slot is given back when the thread is really done, not when the awaiting
        # coroutine is cancelled, so cancelled requests cannot pile up work in the pool.
        job.add_done_callback(lambda _: _call_soon(loop, slots.release))
        if self._on_render is not None:
            self._on_render()
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        """Wait for running renders and stop the threads."""
        self._pool.shutdown(wait=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed: nobody is left waiting for the slot
        pass
