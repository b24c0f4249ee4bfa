"""The image engine of one worker process: created on the first render, closed at shutdown.

A worker that never renders an image never loads libvips (importing pyvips opens the
library: about 10 MiB more RSS per process); the limits, which signing and the
header-only routes need, are plain values available from the start.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from s3proxy.imaging.limits import ImageLimits

if TYPE_CHECKING:
    from s3proxy.imaging.engine import ImageRenderer


class ImageService:
    """What the REST routes share: whether rendering is on, its limits, and the one
    ImageRenderer of this process (its semaphore belongs to this process's loop)."""

    def __init__(self, limits: ImageLimits, *, enabled: bool = True, concurrency: int | None = None,
                 on_render: Callable[[], object] | None = None) -> None:
        self.limits = limits
        self.on_render = on_render
        self.enabled = enabled
        self.concurrency = max(1, concurrency or os.cpu_count() or 1)
        self._renderer: ImageRenderer | None = None
        self._admission: asyncio.Semaphore | None = None

    @property
    def admission(self) -> asyncio.Semaphore:
        """Requests allowed to hold a source in memory at once: twice the render slots,
        so the next sources are read while the current ones render, and a burst of
        requests queues here, before reading anything, instead of each holding its
        source (up to the source limit) while it waits for a slot."""
        if self._admission is None:
            self._admission = asyncio.Semaphore(2 * self.concurrency)
        return self._admission

    @property
    def renderer(self) -> ImageRenderer:
        if self._renderer is None:
            from s3proxy.imaging.engine import ImageRenderer

            self._renderer = ImageRenderer(self.limits, concurrency=self.concurrency, on_render=self.on_render)
        return self._renderer

    @property
    def loaded(self) -> bool:
        """Has a render happened (and libvips been loaded) in this process?"""
        return self._renderer is not None

    def close(self) -> None:
        """Wait for renders still running and stop the engine's threads."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
