"""glibc keeps the megabyte buffers of big transfers on the heap once told to (in a
child interpreter, so this test process keeps its own malloc settings)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

CHILD = """
import ctypes, json
from s3proxy.malloc import keep_large_buffers_on_heap

def in_heap(buffer):
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            if low <= address < high:
                return True
    return False

done = keep_large_buffers_on_heap()
buffers = [bytearray(1 << 20) for _ in range(4)]
print(json.dumps([done, [in_heap(b) for b in buffers]]))
"""


def test_megabyte_buffers_come_from_the_heap_under_glibc() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    done, in_heap = json.loads(out)
    if platform.libc_ver()[0] != "glibc":
        assert done is False  # nothing to tune: the call says so and changes nothing
        return
    assert done is True
    assert in_heap == [True] * 4


TRIM_CHILD = """
import json, os
from s3proxy.malloc import keep_large_buffers_on_heap, release_free_memory

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

keep_large_buffers_on_heap()
buffers = [bytearray(300_000) for _ in range(200)]  # 60 MB on the heap, like a burst of listings
pinned = buffers[-1]  # the heap's top stays in use, so glibc's own trimming cannot return the rest
del buffers
before = rss_mib()
release_free_memory()
print(json.dumps([before, rss_mib()]))
"""


def test_free_heap_is_given_back_on_request() -> None:
    if platform.libc_ver()[0] != "glibc":
        return  # no malloc_trim: release_free_memory does nothing, and nothing is measured
    out = subprocess.run([sys.executable, "-c", TRIM_CHILD], capture_output=True, text=True, check=True).stdout
    before, after = json.loads(out)
    assert before - after > 40, (before, after)
