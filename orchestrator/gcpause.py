"""Pause the cyclic garbage collector around bulk allocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while allocating many objects that form no cycles (a parsed plan, a
    workflow's steps and schedule): collections triggered by the allocations alone otherwise
    take most of the time. Reference counting still frees memory; cycles wait for the next
    collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
