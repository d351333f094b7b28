"""Recover trial images the way SRM tests a recovery plan: the real SRA's testFailoverStart.

Each trial: one replication cycle (``sync``, quiesced through the agents in app mode), then
``perl sra/command.pl`` with ``testFailoverStart`` for the replica group at the recovery site,
sent by the orchestrator's SRM side (:class:`orchestrator.srm.invoke.SraInvoker`, XML on stdin,
the answer in ``OutputFile``). The TimeViews it presents are found by the WWNs it reports, read
through the recovery appliance and checked; then ``testFailoverStop`` removes them. The SRA must
test the recovery point the cycle just made: if it reports another one the trial fails with
:class:`TrialFailoverFailed`.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orchestrator.errors import OrchestratorError
from orchestrator.srm.invoke import Connection, Q, SraInvoker, item_errors, q, sub
from simulators.agent.blockdev import ApplianceDevice
from simulators.agent.errors import TrialFailoverFailed
from simulators.agent.sources import Recovered, ReplicaSource, Setup

COMMAND_PL = Path(__file__).resolve().parents[2] / "sra" / "command.pl"
ACCESS_GROUP = "drkit-trials"
INITIATOR = "21:00:00:00:0d:4b:00:01"


class SraTestFailoverSource(ReplicaSource):
    def __init__(self, peer_client: Any, peer_url: str, peer_token: str, peer_id: str,
                 workdir: Path) -> None:
        super().__init__(peer_client, peer_url, peer_token, peer_id)
        self.workdir = Path(workdir)
        pin = peer_client.fingerprint
        address = f"{peer_url}?fingerprint={quote(pin)}" if pin else peer_url
        connection = Connection({"address": address}, "drkit-trials", peer_token)
        self.sra = SraInvoker(["perl", str(COMMAND_PL)], connection, self.workdir / "sra-logs",
                              timeout=120, cwd=self.workdir,
                              env={"DRKIT_PYTHON": sys.executable})

    @contextmanager
    def recovered(self, setup: Setup, mode: str) -> Iterator[Recovered]:
        result = setup.client.sync_wait(self.rep_id, quiesce=mode == "app")["result"]
        root = self.run("testFailoverStart", self._targets(setup, "TestFailoverStartParameters"))
        try:
            point, wwns = _tested(root)
            if point != result["recovery_point"]:
                raise TrialFailoverFailed(f"testFailoverStart tested recovery point {point}, not "
                               f"{result['recovery_point']}", tested=point,
                               expected=result["recovery_point"])
            by_wwn = {lun["wwn"]: lun["id"] for lun in self.peer.list_luns(role="timeview")}
            data, wal = (ApplianceDevice(self.peer_url, self.peer_token,
                                         by_wwn[wwns[self.remote[lun]]], self.peer.fingerprint)
                         for lun in setup.luns)
            yield result["consistency"], data, wal
        finally:
            self.run("testFailoverStop", self._targets(setup, "TestFailoverStopParameters"))

    def _targets(self, setup: Setup, tag: str) -> ET.Element:
        """The parameters SRM sends for the replica group: its devices, one access group."""
        params = ET.Element(q(tag))
        sub(params, "ArrayId", self.peer.appliance()["id"])
        group = sub(sub(params, "AccessGroups"), "AccessGroup", id=ACCESS_GROUP)
        sub(group, "Initiator", id=INITIATOR, type="FC")
        target = sub(sub(params, "TargetGroups"), "TargetGroup", key=self.rep_id)
        devices = sub(target, "TargetDevices")
        for lun in setup.luns:
            device = sub(devices, "TargetDevice", key=self.remote[lun])
            sub(sub(device, "AccessGroups"), "AccessGroup", id=ACCESS_GROUP)
        return params

    def run(self, verb: str, params: ET.Element) -> Any:
        """Run the SRA once, as SRM does; the parsed Response (TrialFailoverFailed on errors)."""
        try:
            root = self.sra.call(verb, params)
        except OrchestratorError as exc:
            raise TrialFailoverFailed(f"SRA {verb}: {exc}", verb=verb) from None
        errors = item_errors(root)
        if errors:
            raise TrialFailoverFailed(f"SRA {verb} answered errors: {errors}", verb=verb,
                                     errors=errors)
        return root


def _tested(root: Any) -> tuple[str, dict[str, str]]:
    """The recovery point id the group was tested at, and each replica key's TimeView WWN."""
    group = root.find(f".//{Q}TestFailoverStartResults/{Q}TargetGroups/{Q}TargetGroup/"
                      f"{Q}Snapshot")
    if group is None:
        raise TrialFailoverFailed("testFailoverStart answered no group snapshot")
    point = group.find(f"{Q}RecoveryPoint").get("id")
    wwns = {dev.get("key"): dev.findtext(f".//{Q}Identity/{Q}Wwn")
            for dev in group.iter(f"{Q}TargetDevice")}
    return point, wwns
