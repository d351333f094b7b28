"""Application-consistency trials: does quiescing through the agent give clean recovered images?

A trial: let the guest's workload run a random while, snapshot its consistency group (crash mode:
plain snapshot; app mode: quiesced through the agent, policy ``fail``), turn the snapshot into a
*recovered image set* and run the checker on it. The counts are whatever the checker finds: nothing
is planted, crash images are only as bad as the workload's unordered flushes make them.

Taking the recovery point and producing the recovered image is pluggable (see sources.py):
TimeViews of a snapshot on the protected appliance (default), a copy into files, or a replication
cycle to a paired appliance and a TimeView of the replica's recovery point.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulators.agent.blockdev import ApplianceDevice
from simulators.agent.checker import KINDS, check
from simulators.agent.errors import AgentError, InvalidField
from simulators.agent.guest import GuestConfig, GuestProcess
from simulators.agent.quiesce import summary
from simulators.agent.sources import (
    ExportSource,
    ImageSource,
    ReplicaSource,
    Setup,
    TimeViewSource,
    purge,
)

MIB = 1024 * 1024
MODES = ("app", "crash")


@dataclass
class TrialResult:
    mode: str
    index: int
    consistency: str | None
    ok: bool | None
    counts: dict[str, int]
    pause_ms: float | None = None
    error: str | None = None


@dataclass
class ModeSummary:
    mode: str
    results: list[TrialResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        checked = [r for r in self.results if r.ok is not None]
        pauses = [r.pause_ms for r in self.results if r.pause_ms is not None]
        totals = {k: sum(r.counts.get(k, 0) for r in checked) for k in KINDS}
        return {"mode": self.mode, "trials": len(self.results), "checked": len(checked),
                "images_with_violations": sum(not r.ok for r in checked),
                "violations": totals, "violations_total": sum(totals.values()),
                "snapshot_failures": sum(r.error is not None for r in self.results),
                "consistency": _tally(r.consistency for r in self.results),
                "pause_ms": summary(pauses)}


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


@dataclass
class TrialConfig:
    count: int = 20
    seed: int = 0
    rate_tps: float = 100.0
    min_run_s: float = 0.02
    max_run_s: float = 0.25
    guest: GuestConfig = field(default_factory=GuestConfig)


class TrialRunner:
    """Runs trials against one appliance (a given one, or a private one it starts)."""

    def __init__(self, client: Any, url: str, token: str, token_file: Path, workdir: Path,
                 source: ImageSource | None = None) -> None:
        self.client, self.url, self.token = client, url, token
        self.token_file, self.workdir = token_file, workdir
        self.source = source or TimeViewSource()

    def run_mode(self, mode: str, cfg: TrialConfig, progress: Any = None) -> ModeSummary:
        rng = random.Random(f"{cfg.seed}:{mode}")
        guest_cfg = replace(cfg.guest, name=f"trial-{mode}-{cfg.seed}",
                            seed=rng.randrange(2**31), rate_tps=cfg.rate_tps)
        with self._protected(guest_cfg) as (setup, guest):
            out = ModeSummary(mode)
            for i in range(cfg.count):
                time.sleep(rng.uniform(cfg.min_run_s, cfg.max_run_s))  # the workload runs
                out.results.append(self._trial(mode, i, setup, guest))
                if progress is not None:
                    progress(out.results[-1])
            return out

    @contextmanager
    def _protected(self, cfg: GuestConfig) -> Iterator[tuple[Setup, GuestProcess]]:
        luns = [self.client.create_lun(f"{cfg.name}-{p}", MIB)["id"] for p in ("data", "wal")]
        group = self.client.create_group(f"{cfg.name}-cg", luns)
        guest = GuestProcess(self.workdir, self.url, self.token_file, *luns, cfg,
                             fingerprint=self.client.fingerprint)
        setup = Setup(self.url, self.token, self.client, group["id"], *luns)
        try:
            guest.start()
            _wait_for_checkpoint(setup, 20)
            self.source.prepare(setup)
            yield setup, guest
        finally:
            guest.stop()
            self.source.close(setup)
            purge(self.client, luns)

    def _trial(self, mode: str, i: int, setup: Setup, guest: GuestProcess) -> TrialResult:
        from sra.nss_client import NssApiError

        try:
            with self.source.recovered(setup, mode) as (consistency, data, wal):
                report = check(data, wal)
        except (NssApiError, AgentError) as exc:
            return TrialResult(mode, i, None, None, {}, error=f"{exc.code}: {exc.message}")
        pause = guest.status()["stats"]["last_pause_ms"] if consistency == "app" else None
        return TrialResult(mode, i, consistency, report.ok, report.counts, pause)


def _wait_for_checkpoint(setup: Setup, min_lsn: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    devs = [ApplianceDevice(setup.url, setup.token, x, setup.client.fingerprint)
            for x in (setup.data_lun, setup.wal_lun)]
    while check(*devs).checkpoint_lsn < min_lsn:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the guest did not reach LSN {min_lsn} in {timeout_s}s")
        time.sleep(0.05)


VIAS = ("timeview", "export", "replica", "sra")


@contextmanager
def private_appliances(count: int) -> Iterator[tuple[list[Any], Path]]:
    """Start throw-away appliances for the trials (HTTPS, their certificates pinned);
    yields (ApplianceProcesses, workdir)."""
    from simulators.nss.process import ApplianceProcess

    with tempfile.TemporaryDirectory(prefix="drkit-trials-") as tmp:
        started: list[Any] = []
        try:
            for i in range(count):
                started.append(ApplianceProcess(f"trials-{i}", Path(tmp) / f"nss-{i}",
                                                tls=True).start())
            yield started, Path(tmp)
        finally:
            for ap in started:
                ap.stop()


def make_source(via: str, appliances: list[Any], workdir: Path) -> ImageSource:
    """The image source named ``via`` (one of VIAS) over the given appliance processes."""
    if via == "timeview":
        return TimeViewSource()
    if via == "export":
        return ExportSource(workdir / "export")
    if via in ("replica", "sra"):
        from simulators.agent.sra_source import SraTestFailoverSource

        a, b = appliances
        peer = a.client.pair(b.url, b.token, fingerprint=b.fingerprint)
        if via == "sra":
            return SraTestFailoverSource(b.client, b.url, b.token, peer["id"], workdir / "sra")
        return ReplicaSource(b.client, b.url, b.token, peer["id"])
    raise InvalidField("via", f"{via!r} is not one of {', '.join(VIAS)}")


def run_trials(modes: list[str], cfg: TrialConfig, progress: Any = None, via: str = "timeview",
               appliance_url: str | None = None, token_file: Path | None = None,
               fingerprint: str = "") -> dict[str, ModeSummary]:
    """Run ``cfg.count`` trials per mode, on the given appliance or on private ones.

    ``via`` picks the recovered-image step (VIAS); ``replica`` and ``sra`` need two paired
    appliances, so they always run on private ones.
    """
    if appliance_url and token_file and via in ("timeview", "export"):
        from sra.nss_client import NssClient

        token = token_file.read_text().strip()
        with tempfile.TemporaryDirectory(prefix="drkit-trials-") as tmp:
            source = make_source(via, [], Path(tmp))
            runner = TrialRunner(NssClient(appliance_url, token, fingerprint=fingerprint),
                                 appliance_url, token,
                                 token_file, Path(tmp), source)
            return {m: runner.run_mode(m, cfg, progress) for m in modes}
    with private_appliances(2 if via in ("replica", "sra") else 1) as (aps, workdir):
        source = make_source(via, aps, workdir)
        runner = TrialRunner(aps[0].client, aps[0].url, aps[0].token, aps[0].token_file,
                             workdir, source)
        return {m: runner.run_mode(m, cfg, progress) for m in modes}


def format_table(summaries: dict[str, ModeSummary]) -> str:
    """The modes side by side: violation counts per kind, pause statistics."""
    cols = {m: s.to_dict() for m, s in summaries.items()}

    def pause(d: dict[str, Any], key: str) -> str:
        value = d["pause_ms"][key]
        return "-" if value is None else f"{value:.1f}"

    rows: list[tuple[str, list[str]]] = [
        ("trials", [str(d["trials"]) for d in cols.values()]),
        ("snapshot failures", [str(d["snapshot_failures"]) for d in cols.values()]),
        ("images with violations", [str(d["images_with_violations"]) for d in cols.values()]),
        *((f"  {kind}", [str(d["violations"][kind]) for d in cols.values()]) for kind in KINDS),
        ("violations (total)", [str(d["violations_total"]) for d in cols.values()]),
        ("pause median (ms)", [pause(d, "median") for d in cols.values()]),
        ("pause p99 (ms)", [pause(d, "p99") for d in cols.values()]),
    ]
    header = f"{'':26}" + "".join(f"{m:>10}" for m in cols)
    return "\n".join([header] + [f"{name:26}" + "".join(f"{v:>10}" for v in values)
                                 for name, values in rows])
