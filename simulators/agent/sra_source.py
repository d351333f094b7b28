"""Recover trial images the way SRM tests a recovery plan: the real SRA's testFailoverStart.

Each trial: one replication cycle (``sync``, quiesced through the agents in app mode), then
``perl sra/command.pl`` with ``testFailoverStart`` for the replica group at the recovery site,
exactly as SRM sends it (XML on stdin, the answer in ``OutputFile``). The TimeViews it presents are
found by the WWNs it reports, read through the recovery appliance and checked; then
``testFailoverStop`` removes them. The SRA must test the recovery point the cycle just made: if
it reports another one the trial fails with :class:`SraError`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree

from simulators.agent.blockdev import ApplianceDevice
from simulators.agent.errors import SraError
from simulators.agent.sources import Recovered, ReplicaSource, Setup

NS = "{http://www.vmware.com/srm/sra/v2}"
COMMAND_PL = Path(__file__).resolve().parents[2] / "sra" / "command.pl"
ACCESS_GROUP = "drkit-trials"
INITIATOR = "21:00:00:00:0d:4b:00:01"


class SraTestFailoverSource(ReplicaSource):
    def __init__(self, peer_client: Any, peer_url: str, peer_token: str, peer_id: str,
                 workdir: Path) -> None:
        super().__init__(peer_client, peer_url, peer_token, peer_id)
        self.workdir = Path(workdir)
        self.runs = 0

    @contextmanager
    def recovered(self, setup: Setup, mode: str) -> Iterator[Recovered]:
        result = setup.client.sync_wait(self.rep_id, quiesce=mode == "app")["result"]
        params = self._targets(setup)
        root = self.run("testFailoverStart", f"<TestFailoverStartParameters>{params}"
                                             "</TestFailoverStartParameters>")
        try:
            point, wwns = _tested(root)
            if point != result["recovery_point"]:
                raise SraError(f"testFailoverStart tested recovery point {point}, not "
                               f"{result['recovery_point']}", tested=point,
                               expected=result["recovery_point"])
            by_wwn = {lun["wwn"]: lun["id"] for lun in self.peer.list_luns(role="timeview")}
            data, wal = (ApplianceDevice(self.peer_url, self.peer_token,
                                         by_wwn[wwns[self.remote[lun]]]) for lun in setup.luns)
            yield result["consistency"], data, wal
        finally:
            self.run("testFailoverStop", f"<TestFailoverStopParameters>{params}"
                                         "</TestFailoverStopParameters>")

    def _targets(self, setup: Setup) -> str:
        devices = "".join(f"<TargetDevice key={quoteattr(self.remote[lun])}><AccessGroups>"
                          f"<AccessGroup id={quoteattr(ACCESS_GROUP)}/></AccessGroups>"
                          "</TargetDevice>" for lun in setup.luns)
        return (f"<ArrayId>{escape(self.peer.appliance()['id'])}</ArrayId><AccessGroups>"
                f"<AccessGroup id={quoteattr(ACCESS_GROUP)}><Initiator id="
                f"{quoteattr(INITIATOR)} type=\"FC\"/></AccessGroup></AccessGroups>"
                f"<TargetGroups><TargetGroup key={quoteattr(self.rep_id)}><TargetDevices>"
                f"{devices}</TargetDevices></TargetGroup></TargetGroups>")

    def run(self, verb: str, params: str) -> Any:
        """Run the SRA once, as SRM does; return the parsed Response (SraError on <Error>)."""
        self.runs += 1
        out = self.workdir / f"sra-{self.runs}-output.xml"
        (self.workdir / "sra-logs").mkdir(parents=True, exist_ok=True)
        request = _envelope(verb, params, out, self.workdir, self.peer_url, self.peer_token)
        proc = subprocess.run(["perl", str(COMMAND_PL)], input=request.encode(), timeout=120,
                              capture_output=True, cwd=self.workdir,
                              env={**os.environ, "DRKIT_PYTHON": sys.executable})
        if proc.returncode != 0 or not out.exists():
            raise SraError(f"SRA {verb} exited {proc.returncode}", verb=verb,
                           stderr=proc.stderr.decode(errors="replace")[-500:])
        root = ElementTree.fromstring(out.read_bytes())
        out.unlink()
        errors = [(e.get("code"), (e.text or "").strip()) for e in root.iter(f"{NS}Error")]
        if errors:
            raise SraError(f"SRA {verb} answered errors: {errors}", verb=verb, errors=errors)
        return root


def _tested(root: Any) -> tuple[str, dict[str, str]]:
    """The recovery point id the group was tested at, and each replica key's TimeView WWN."""
    group = root.find(f".//{NS}TestFailoverStartResults/{NS}TargetGroups/{NS}TargetGroup/"
                      f"{NS}Snapshot")
    if group is None:
        raise SraError("testFailoverStart answered no group snapshot")
    point = group.find(f"{NS}RecoveryPoint").get("id")
    wwns = {dev.get("key"): dev.findtext(f".//{NS}Identity/{NS}Wwn")
            for dev in group.iter(f"{NS}TargetDevice")}
    return point, wwns


def _envelope(verb: str, params: str, out: Path, workdir: Path, url: str, token: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Command xmlns="http://www.vmware.com/srm/sra/v2">
  <Name>{verb}</Name>
  <OutputFile>{escape(str(out))}</OutputFile>
  <StatusFile>{escape(str(workdir / "sra-status.xml"))}</StatusFile>
  <LogLevel>info</LogLevel>
  <LogDirectory>{escape(str(workdir / "sra-logs"))}</LogDirectory>
  <Connections><Connection id="nss">
    <Addresses><Address id="address">{escape(url)}</Address></Addresses>
    <Username>drkit-trials</Username><Password>{escape(token)}</Password>
    <Opaques></Opaques></Connection></Connections>
  {params}
</Command>"""
