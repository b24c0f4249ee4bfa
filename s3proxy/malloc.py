"""Keep the megabyte buffers of big transfers on the heap (glibc's malloc only).

Why: a big body crosses the proxy in 1 MiB reads (`large_bodies`), and tornado
allocates a fresh buffer for each read and frees it soon after. glibc serves
allocations above its mmap threshold with a fresh `mmap`, so every read paid for a
megabyte of page faults and an `munmap`; the threshold adapts upwards after such a
free, but trimming the heap's top undoes it, and a long-running worker ended up
switching between the two. Measured on a 1 GiB download through the s3 backend: 0.4 to
1.4 s of worker CPU per GiB depending on that state (bimodal), 0.35 to 0.5 s with the
thresholds fixed as below. The cost is memory kept for reuse: at most TRIM_THRESHOLD
of free heap per worker before glibc returns it.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("s3proxy")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 8 * 1024 * 1024  # above a 1 MiB read buffer and its copies, below nothing else we allocate often
TRIM_THRESHOLD = 16 * 1024 * 1024


def keep_large_buffers_on_heap() -> bool:
    """Fix glibc's mmap and trim thresholds; False where malloc is not glibc's."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.debug("mallopt refused the thresholds; keeping malloc's defaults")
    return done
