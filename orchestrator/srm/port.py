"""The orchestrator's StoragePort for one site, spoken through an SRA exactly as SRM speaks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property

from orchestrator.plan.model import ProtectionGroup
from orchestrator.ports.errors import StepError
from orchestrator.ports.storage import DeviceIdentity, SyncStatus

from .discovery import Discovery, Selection, Selections, parse_arrays, parse_devices
from .invoke import SraInvoker, item_errors, q, sub, text

Initiators = Callable[[], Sequence[tuple[str, str]]]  # (type, id) of this site's hosts


class SraStoragePort:
    """One site's array through its SRA. ``initiators`` (recovery side) names the hosts that
    must see recovered devices; they form one access group ``access_group``."""

    def __init__(self, site: str, invoker: SraInvoker, selections: Selections,
                 initiators: Initiators | None = None, access_group: str = "drkit-recovery",
                 array_ids: tuple[str, str] | None = None) -> None:
        self.site = site
        self.invoker = invoker
        self.selections = selections
        self.initiators = initiators
        self.access_group = access_group
        self._array_ids = array_ids

    # ---------------------------------------------------------------- discovery
    @cached_property
    def arrays(self) -> tuple[str, str]:
        if self._array_ids and all(self._array_ids):
            return self._array_ids
        return parse_arrays(self.invoker.call("discoverArrays", ET.Element(
            q("DiscoverArraysParameters"))))

    def discovery(self) -> Discovery:
        array, peer = self.arrays
        params = self._params("DiscoverDevicesParameters", peer=True)
        return parse_devices(self.invoker.call("discoverDevices", params), array, peer)

    def discover(self) -> Sequence[DeviceIdentity]:
        return [DeviceIdentity(d.local, d.wwn or None) for d in self.discovery().devices]

    def discover_groups(self) -> Sequence[str]:
        return sorted({n for g in self.discovery().groups for n in (g.key, g.local, g.name) if n})

    # ---------------------------------------------------------------- source-side verbs
    def sync_once(self, group: ProtectionGroup, app_consistent: bool = False) -> str:
        params = self._params("SyncOnceParameters", peer=True)
        self._source_items(params, self._selection(group))
        root = self._call("syncOnce", params, quiesce=app_consistent)
        handles = [f"{kind}|{ident}|{sync.get('id', '')}"
                   for kind, ident, sync in _syncs(root)]
        return ";".join(handles)

    def query_sync_status(self, group: ProtectionGroup, handle: str) -> SyncStatus:
        params = self._params("QuerySyncStatusParameters", peer=True)
        lists: dict[str, ET.Element] = {}
        for entry in filter(None, handle.split(";")):
            kind, ident, sync_id = entry.split("|")
            tag = "ConsistencyGroup" if kind == "ConsistencyGroup" else "SourceDevice"
            if tag not in lists:
                lists[tag] = sub(params, tag + "s")
            sub(lists[tag], tag, id=ident, syncId=sync_id)
        syncs = list(_syncs(self._call("querySyncStatus", params)))
        done = all(s.get("status") == "complete" for _, _, s in syncs)
        progress = min((int(text(s, "Progress") or 100) for _, _, s in syncs), default=100)
        return SyncStatus(done, 100 if done else progress)

    def prepare_failover(self, group: ProtectionGroup) -> None:
        params = self._params("PrepareFailoverParameters")
        self._source_items(params, self._selection(group))
        self._call("prepareFailover", params)

    def prepare_reverse_replication(self, group: ProtectionGroup) -> None:
        self._reverse_verb("prepareReverseReplication", group)

    def reverse_replication(self, group: ProtectionGroup) -> None:
        self._reverse_verb("reverseReplication", group)

    # ---------------------------------------------------------------- recovery-side verbs
    def test_failover_start(self, group: ProtectionGroup) -> Sequence[DeviceIdentity]:
        params = self._target_params("TestFailoverStartParameters", group)
        return self._presented(group, self._call("testFailoverStart", params))

    def test_failover_stop(self, group: ProtectionGroup) -> None:
        params = self._target_params("TestFailoverStopParameters", group, access=False)
        self._call("testFailoverStop", params)

    def failover(self, group: ProtectionGroup) -> Sequence[DeviceIdentity]:
        params = self._target_params("FailoverParameters", group)
        return self._presented(group, self._call("failover", params))

    def _presented(self, group: ProtectionGroup, root: ET.Element) -> list[DeviceIdentity]:
        """Devices as the hosts see them; ``key`` is the WWN of the device each replicates
        (the vSphere side re-maps RDMs through it), else the SRA's device key."""
        sel = self._selection(group)
        out = []
        for dev in _presented(root):
            replicated = sel.peer_wwn(self.site, dev.key)
            out.append(replace(dev, key=replicated) if replicated else dev)
        return out

    # ---------------------------------------------------------------- building requests
    def _selection(self, group: ProtectionGroup) -> Selection:
        return self.selections.get(group)

    def _params(self, tag: str, peer: bool = False) -> ET.Element:
        array, peer_id = self.arrays
        params = ET.Element(q(tag))
        sub(params, "ArrayId", array)
        if peer and peer_id:
            sub(params, "PeerArrayId", peer_id)
        return params

    def _source_items(self, params: ET.Element, sel: Selection, device_tag: str = "SourceDevice",
                      ) -> None:
        if sel.groups:
            groups = sub(params, "ConsistencyGroups")
            for key in sel.groups:
                sub(groups, "ConsistencyGroup", id=key)
        if sel.devices:
            devices = sub(params, device_tag + "s")
            for dev in sel.devices:
                sub(devices, device_tag, id=dev[self.site])

    def _target_params(self, tag: str, group: ProtectionGroup, access: bool = True) -> ET.Element:
        sel = self._selection(group)
        params = self._params(tag)
        if access:
            groups = sub(params, "AccessGroups")
            ag = sub(groups, "AccessGroup", id=self.access_group)
            for kind, ident in self._initiators():
                sub(ag, "Initiator", id=ident, type=kind)
        if sel.devices:
            devices = sub(params, "TargetDevices")
            for dev in sel.devices:
                self._target_item(devices, "TargetDevice", dev[self.site], access)
        if sel.groups:
            groups_el = sub(params, "TargetGroups")
            for key in sel.groups:
                self._target_item(groups_el, "TargetGroup", key, access)
        return params

    def _target_item(self, parent: ET.Element, tag: str, key: str, access: bool) -> None:
        node = sub(parent, tag, key=key)
        if access:
            sub(sub(node, "AccessGroups"), "AccessGroup", id=self.access_group)

    def _initiators(self) -> Sequence[tuple[str, str]]:
        found = list(self.initiators()) if self.initiators else []
        if not found:
            raise StepError(f"sra:{self.site}", f"no host initiators known at the {self.site} "
                            "site: recovered devices could not be presented to any host")
        return found

    def _reverse_verb(self, name: str, group: ProtectionGroup) -> None:
        params = self._params(name[0].upper() + name[1:] + "Parameters", peer=True)
        self._source_items(params, self._selection(group), device_tag="Device")
        self._call(name, params)

    def _call(self, name: str, params: ET.Element, quiesce: bool = False) -> ET.Element:
        invoker = self.invoker
        if quiesce and invoker.connection is not None:  # an option on the Address, as SRM has
            addresses = {k: _with_option(v, "quiesce=true")
                         for k, v in invoker.connection.addresses.items()}
            conn = replace(invoker.connection, addresses=addresses)
            invoker = SraInvoker(invoker.command, conn, invoker.log_dir, invoker.timeout,
                                 invoker.cwd)
        root = invoker.call(name, params)
        errors = item_errors(root)
        if errors:
            raise StepError(f"sra:{name}", f"SRA {name} at the {self.site} site: "
                            + "; ".join(errors))
        return root


def _syncs(root: ET.Element):
    for parent in root.iter():
        for sync in parent.findall(q("DeviceSync")):
            yield parent.tag.removeprefix(q("")), parent.get("id", ""), sync


def _presented(root: ET.Element) -> list[DeviceIdentity]:
    out = []
    for dev in root.iter(q("TargetDevice")):
        wwn = text(dev.find(f".//{q('Identity')}"), "Wwn") if dev.find(
            f".//{q('Identity')}") is not None else ""
        rp = dev.find(f".//{q('RecoveryPoint')}")
        if not wwn:
            continue
        consistency = _consistency(dev)
        out.append(DeviceIdentity(dev.get("key", ""), wwn.lower(), text(rp, "Time") or None,
                                  consistency))
    return out


CONSISTENCY = {"application-consistent": "app", "crash-consistent": "crash"}


def _consistency(dev: ET.Element) -> str | None:
    """drkit's SRA names a recovery point by its consistency (``RecoveryPoint/Name``:
    application-consistent or crash-consistent); another SRA's name means unknown."""
    point = dev.find(f".//{q('RecoveryPoint')}")
    return CONSISTENCY.get(text(point, "Name").lower()) if point is not None else None


def _with_option(address: str, option: str) -> str:
    """``address`` with ``option`` added to its query string (drkit's SRA reads its options
    there, since SRM shows only Address, Username and Password)."""
    return f"{address}{'&' if '?' in address else '?'}{option}"
