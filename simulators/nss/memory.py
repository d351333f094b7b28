"""Give memory freed by big work back to the system.

A sync moves its data in parts of several MiB. glibc serves blocks that size from its heaps once
its dynamic mmap threshold has risen (after the first such block is freed), and keeps what is
freed there for reuse, so an appliance that synced a large LUN stayed tens of MiB larger while
idle. ``release`` asks glibc to return the free pages of every arena (``malloc_trim(0)``: unused
pages inside the heaps are given back with ``madvise``, not just the top). It is called when a
job ends and when the replica has applied a cycle. On a C library without ``malloc_trim`` it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
