"""File modes of the data directory and secrets sealed at rest, on real appliance processes."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from simulators.nss.sealing import SecretBox, place

pytestmark = pytest.mark.live
AGENT_TOKEN = "agent-token-0123456789abcdef"


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def _raw(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("meta.sqlite*"))


def _paired(appliance_factory):
    a, b = appliance_factory("site-a"), appliance_factory("site-b")
    peer = a.client.pair(b.url, b.token)
    lun = a.client.create_lun("vol", 2**20)
    a.client.write(lun["id"], 0, b"\x01" * 4096)
    a.client.create_snapshot(lun["id"])
    a.client.register_agent("db", "http://127.0.0.1:9", AGENT_TOKEN, [lun["id"]])
    return a, b, peer, lun


def test_data_directory_is_private(appliance_factory):
    a, _, _, _ = _paired(appliance_factory)
    modes = _modes(a.data_dir)
    assert {"meta.sqlite", "meta.sqlite-wal", "api.token"} <= set(modes)
    assert any(name.startswith("luns/") for name in modes)
    for name, mode in modes.items():
        want = 0o700 if (a.data_dir / name).is_dir() else 0o600
        assert mode == want, f"{name}: {oct(mode)}"
    key = a.data_dir.with_name("site-a.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32


def test_peer_and_agent_secrets_are_sealed(appliance_factory):
    a, b, peer, _ = _paired(appliance_factory)
    raw = _raw(a.data_dir)
    assert b.token.encode() not in raw and AGENT_TOKEN.encode() not in raw
    box = SecretBox.from_file(a.data_dir.with_name("site-a.key"))
    with sqlite3.connect(a.data_dir / "meta.sqlite") as db:
        token, key = db.execute("SELECT token, key FROM peers").fetchone()
    assert box.open_text(token, place("peers", "token", peer["id"])) == b.token
    assert len(box.open(key, place("peers", "key", peer["id"]))) == 32
    assert key.encode() not in _raw(b.data_dir)  # each side seals with its own key


def test_an_older_appliance_is_tightened_and_sealed_on_open(appliance_factory):
    """Clear rows and 0644/0755 modes, as an older version left them, are fixed at start and
    the peer still works: a replication runs with the unsealed token and pair key."""
    a, b, peer, lun = _paired(appliance_factory)
    a.stop()
    box = SecretBox.from_file(a.data_dir.with_name("site-a.key"))
    with sqlite3.connect(a.data_dir / "meta.sqlite") as db:
        token, key = db.execute("SELECT token, key FROM peers").fetchone()
        clear_key = box.open(key, place("peers", "key", peer["id"]))
        db.execute("UPDATE peers SET token=?, key=?",
                   (box.open_text(token, place("peers", "token", peer["id"])), clear_key))
        db.execute("UPDATE agents SET token=?", (AGENT_TOKEN,))
    for path in [a.data_dir, *a.data_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert b.token.encode() in _raw(a.data_dir)
    a.start()
    assert b.token.encode() not in _raw(a.data_dir) and clear_key not in _raw(a.data_dir)
    assert AGENT_TOKEN.encode() not in _raw(a.data_dir)
    assert all(m in (0o600, 0o700) for m in _modes(a.data_dir).values())
    created = a.client.create_replication(lun["id"], peer["id"])
    assert a.client.wait_job(created["job"]["id"])["state"] == "succeeded"


def test_a_wrong_sealing_key_is_refused_by_name(appliance_factory):
    a, _, peer, lun = _paired(appliance_factory)
    a.stop()
    key = a.data_dir.with_name("site-a.key")
    key.write_bytes(os.urandom(32))
    a.start()
    with pytest.raises(Exception) as err:
        a.client.create_replication(lun["id"], peer["id"])
    assert "sealed-secret-unreadable" in str(err.value)
