"""One NSS appliance: identity plus the services that make it up. No HTTP here."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from .agents import Agents
from .blockdev import ImageFiles
from .context import Context, utcnow
from .datapath import DataPath
from .groups import Groups
from .jobs import Jobs, Retention
from .luns import Luns
from .model import Snapshot
from .modes import tighten
from .replication.records import KEEP_EVENTS
from .replication.roles import Roles
from .replication.service import ReplicationService
from .replication.volumes import ApplianceVolumes
from .san import San
from .sealing import SecretBox, default_key_path, seal_clear_rows
from .snapshots import Snapshots
from .store import Store

MODEL = "NSS-SIM"
VERSION = "0.1.0"


class Appliance:
    """Opens (or creates) the appliance stored in ``data_dir``.

    The directory is 0700 and every file in it 0600 (existing ones are tightened on open);
    secrets are sealed with the key in ``seal_key`` (default ``<data_dir>.key``, created);
    finished jobs are kept as ``job_retention`` says (``jobs.py``), the ``keep_events`` newest
    events of each replication."""

    def __init__(self, data_dir: Path, name: str, *, fsync: bool = False,
                 seal_key: Path | None = None, job_retention: Retention = Retention(),
                 keep_events: int = KEEP_EVENTS) -> None:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tighten(data_dir)
        self.data_dir = data_dir
        self.store = Store(data_dir / "meta.sqlite")
        self._init_identity(name)
        box = SecretBox.from_file(seal_key or default_key_path(data_dir))
        seal_clear_rows(self.store, box)
        self.ctx = Context(self.store, ImageFiles(data_dir, fsync=fsync), box)
        self.luns = Luns(self.ctx)
        self.data = DataPath(self.ctx)
        self.snapshots = Snapshots(self.ctx, self.luns)
        self.san = San(self.ctx, self.luns)
        self.groups = Groups(self.ctx, self.luns)
        self.jobs = Jobs(self.ctx, retention=job_retention)
        self.agents = Agents(self.ctx, self.luns)
        self.identity: dict[str, Any] = {"id": self.id, "name": name}
        self.replication = ReplicationService(self.ctx, ApplianceVolumes(self), self.jobs,
                                              self.identity, data_dir / "staging", keep_events)
        self.roles = Roles(self.replication)
        self.jobs.recover()
        self._remove_orphan_files()
        self.replication.recover()
        self.replication.start()

    @property
    def id(self) -> str:
        return self.store.meta("id") or ""

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.store.meta("name"), "model": MODEL,
                "version": VERSION, "serial": self.store.meta("serial"),
                "created": self.store.meta("created"),
                "tls_fingerprint": self.identity.get("fingerprint")}

    def snapshot(self, lun_ids: list[str], *, quiesce: bool = False,
                 on_quiesce_failure: str = "crash",
                 attrs: dict[str, Any] | None = None) -> tuple[str | None, list[Snapshot]]:
        """Snapshot one LUN or a set of LUNs at one instant, quiesced through agents if asked."""
        for lun_id in lun_ids:
            self.luns.get(lun_id)
        if not quiesce:
            return self.snapshots.create(lun_ids, "crash", attrs)
        with self.agents.quiesced(lun_ids, on_quiesce_failure) as consistency:
            return self.snapshots.create(lun_ids, consistency, attrs)

    def close(self) -> None:
        self.replication.stop()
        self.jobs.shutdown()
        self.ctx.files.close()
        self.store.close()

    def _init_identity(self, name: str) -> None:
        if self.store.meta("id") is None:
            serial = secrets.token_hex(6)
            with self.store.tx() as db:
                for key, value in (("serial", serial), ("id", f"NSS-{serial.upper()}"),
                                   ("created", utcnow())):
                    db.execute("INSERT INTO meta(key, value) VALUES(?, ?)", (key, value))
        self.store.set_meta("name", name)

    def _remove_orphan_files(self) -> None:
        """Image files whose creation never committed (a crash mid-create) are removed."""
        luns = {r[0] for r in self.store.all("SELECT id FROM luns")}
        snaps = {r[0] for r in self.store.all("SELECT id FROM snapshots")}
        for sub, known in (("luns", luns), ("snaps", snaps)):
            for path in (self.data_dir / sub).glob("*.img"):
                if path.stem not in known:
                    path.unlink()
