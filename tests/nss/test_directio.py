"""Bulk replicated writes past the page cache: same bytes as buffered writes, coherent with
buffered readers, and buffered whenever a write is small, unaligned or has no file yet."""

from __future__ import annotations

import os

import pytest

from simulators.nss.blockdev import ImageFiles
from simulators.nss.directio import BOUNCE, MIN_BULK, DirectWriter

MiB = 2**20


@pytest.fixture
def files(tmp_path):
    f = ImageFiles(tmp_path)
    yield f
    f.close()


def test_direct_write_lands_the_same_bytes_and_the_cache_stays_coherent(files, tmp_path):
    path = files.lun_path("lun-1")
    files.create(path, 64 * MiB)
    files.write(path, 0, b"\1" * (20 * MiB))          # buffered: now in the page cache
    assert files.read(path, 4096, 8) == b"\1" * 8
    data = os.urandom(BOUNCE + 3 * MIN_BULK)            # more than one bounce buffer
    assert files.direct.write(path, 512, data, sync=False)  # sector-, not page-aligned
    assert files.read(path, 0, 512) == b"\1" * 512
    assert files.read(path, 512, len(data)) == data    # the cached pages were replaced
    assert files.read(path, 512 + len(data), 4096) == b"\1" * 4096
    with open(path, "rb") as fh:                        # and a reader with its own descriptor
        fh.seek(512)
        assert fh.read(len(data)) == data


@pytest.mark.parametrize(("offset", "length"), [
    (0, MIN_BULK - 512),          # small: gains nothing
    (100, MIN_BULK),              # not on a sector
    (0, MIN_BULK + 100),          # not whole sectors
])
def test_small_or_unaligned_writes_are_not_direct(files, offset, length):
    path = files.lun_path("lun-2")
    files.create(path, 4 * MiB)
    data = os.urandom(length)
    assert files.direct.write(path, offset, data, sync=False) is False
    files.write(path, offset, data, bulk=True)         # written buffered instead
    assert files.read(path, offset, length) == data


def test_a_missing_file_is_left_to_the_buffered_path(tmp_path):
    writer = DirectWriter()
    assert writer.write(tmp_path / "absent.img", 0, bytes(MIN_BULK), sync=False) is False
    assert writer.supported and not (tmp_path / "absent.img").exists()
    writer.close()


def test_direct_writes_with_fsync(tmp_path):
    files = ImageFiles(tmp_path, fsync=True)
    path = files.lun_path("lun-3")
    files.create(path, 8 * MiB)
    data = os.urandom(2 * MiB)
    assert files.direct.write(path, MiB, data, sync=True)
    assert files.read(path, MiB, len(data)) == data
    files.close()
