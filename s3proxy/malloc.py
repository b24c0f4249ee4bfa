"""How a worker's memory is allocated and given back (glibc's malloc only).

Why: a big body crosses the proxy in 1 MiB reads (`large_bodies`), and tornado
allocates a fresh buffer for each read and frees it soon after. glibc serves
allocations above its mmap threshold with a fresh `mmap`, so every read paid for a
megabyte of page faults and an `munmap`; the threshold adapts upwards after such a
free, but trimming the heap's top undoes it, and a long-running worker ended up
switching between the two. Measured on a 1 GiB download through the s3 backend: 0.4
to 1.4 s of worker CPU per GiB depending on that state (bimodal), 0.35 to 0.7 s with
the thresholds fixed as below.

Fixed thresholds also mean glibc gives free heap back only at the top of the heap and
only past TRIM_THRESHOLD, so a worker that served a burst (a thousand-key listing is
a few hundred KB of strings per request) would keep its peak footprint. Every
TRIM_EVERY_S, the worker hands free pages back explicitly (`malloc_trim`, which
walks the free lists: well under a millisecond for a worker's heap).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

log = logging.getLogger("s3proxy")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 8 * 1024 * 1024  # above a 1 MiB read buffer and its copies
TRIM_THRESHOLD = 16 * 1024 * 1024
TRIM_EVERY_S = 5.0


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library, opened once (release_free_memory runs every few seconds)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _libc_function(name: str, argtypes: list[Any]) -> Any | None:
    function = getattr(_libc(), name, None)
    if function is None:
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def keep_large_buffers_on_heap() -> bool:
    """Fix glibc's mmap and trim thresholds; False where malloc is not glibc's."""
    mallopt = _libc_function("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.debug("mallopt refused the thresholds; keeping malloc's defaults")
    return done


def release_free_memory() -> None:
    """Give free heap pages back to the system (nothing where there is no malloc_trim)."""
    malloc_trim = _libc_function("malloc_trim", [ctypes.c_size_t])
    if malloc_trim is not None:
        malloc_trim(0)
