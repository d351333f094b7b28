"""The bounded descriptor cache: eviction order, and never closing a descriptor in use."""

from __future__ import annotations

import os

from simulators.nss.fdcache import FdCache


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_least_recently_used_is_closed_first(tmp_path):
    cache = FdCache(capacity=2)
    paths = [tmp_path / f"{i}.img" for i in range(3)]
    fds = []
    for path in paths[:2]:
        with cache.use(path) as fd:
            fds.append(fd)
    with cache.use(paths[0]):
        pass  # paths[0] is now the most recently used
    with cache.use(paths[2]):
        pass
    assert len(cache) == 2
    assert _is_open(fds[0]) and not _is_open(fds[1])
    cache.close()
    assert not _is_open(fds[0])


def test_an_evicted_descriptor_in_use_is_closed_by_its_last_user(tmp_path):
    cache = FdCache(capacity=1)
    with cache.use(tmp_path / "a.img") as fd:
        with cache.use(tmp_path / "b.img"):
            assert _is_open(fd)  # evicted while pinned: still open
        os.pwrite(fd, b"x" * 512, 0)
    assert not _is_open(fd)
    assert (tmp_path / "a.img").read_bytes() == b"x" * 512
    cache.close()
