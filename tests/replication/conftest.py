"""Two paired appliances on loopback, and helpers to compare replicas by hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from simulators.nss.process import ApplianceProcess
from sra.nss_client import NssClient


@dataclass
class Appliances:
    """Two appliances, A replicating to B, and a client of each."""

    a: ApplianceProcess
    b: ApplianceProcess

    @property
    def ca(self) -> NssClient:
        return self.a.client

    @property
    def cb(self) -> NssClient:
        return self.b.client


@dataclass
class Pair(Appliances):
    peer_of_a: str  # B's id as A's peer
    peer_of_b: str


def digest(client: NssClient, lun_id: str, size: int) -> str:
    h = hashlib.sha256()
    for off in range(0, size, 8 << 20):
        h.update(client.read(lun_id, off, min(8 << 20, size - off)))
    return h.hexdigest()


def snap_digest(client: NssClient, snap_id: str, size: int) -> str:
    h = hashlib.sha256()
    for off in range(0, size, 8 << 20):
        h.update(client.read_snapshot(snap_id, off, min(8 << 20, size - off)))
    return h.hexdigest()


@pytest.fixture
def pair(appliance_factory) -> Pair:
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    peer = a.client.pair(b.url, b.token)
    return Pair(a, b, peer["id"], a.client.appliance()["id"])
