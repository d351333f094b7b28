"""Resource limits of a real appliance process: descriptors, body sizes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from simulators.nss.client import NssClient

pytestmark = pytest.mark.live
LUNS = 10_000
WORKERS = 4


def _block(i: int) -> bytes:
    return i.to_bytes(4, "big") * 128


def _create_write(client: NssClient, indexes: range) -> list[str]:
    ids = []
    for i in indexes:
        lun = client.create_lun(f"many-{i:05d}", 64 * 1024)
        client.write(lun["id"], 512 * (i % 128), _block(i))
        ids.append(lun["id"])
    return ids


def _read_back(client: NssClient, ids: list[str], indexes: range) -> list[int]:
    return [i for lun_id, i in zip(ids, indexes, strict=True)
            if client.read(lun_id, 512 * (i % 128), 512) != _block(i)]


def _slices(total: int, parts: int) -> list[range]:
    step = -(-total // parts)
    return [range(start, min(total, start + step)) for start in range(0, total, step)]


@pytest.mark.slow
def test_ten_thousand_luns_under_1024_descriptors(appliance_factory):
    """Under ``ulimit -n 1024`` every one of 10,000 LUNs is created, written and read back:
    image descriptors are a bounded cache, not one per LUN kept forever."""
    app = appliance_factory("nss-fd", nofile=1024)
    slices = _slices(LUNS, WORKERS)
    clients = [NssClient(app.url, app.token) for _ in slices]
    with ThreadPoolExecutor(WORKERS) as pool:
        ids = list(pool.map(_create_write, clients, slices))
        bad = [i for part in pool.map(_read_back, clients, ids, slices) for i in part]
    assert bad == []
    assert len(app.client.list_luns()) == LUNS
    assert len(list(Path(f"/proc/{app.proc.pid}/fd").iterdir())) < 512
    assert requests.get(f"{app.url}/healthz", timeout=5).status_code == 200
