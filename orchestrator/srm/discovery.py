"""Reading discoverArrays/discoverDevices answers, and which SRA ids a protection group means.

A protection group's storage is remembered as stable identities that survive a reverse:
consistency groups by their replication id (TargetGroup@key, also accepted as
ConsistencyGroup@id), single devices by the LUN id each site holds (SourceDevice@id at the
source, TargetDevice@key at the replica — both the site's own LUN id). The first time a group
is resolved, the protected site's discovery is matched against the group's members (group id or
name; device id, name or WWN; a datastore by the name of the device that holds it); the result
is kept in a JSON file so a disaster recovery can act without the protected site.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.plan.model import ProtectionGroup
from orchestrator.ports.errors import StepError

from .invoke import q, text


@dataclass(frozen=True)
class Device:
    local: str            # this site's LUN id
    remote: str | None    # the peer's LUN id (known at the source)
    name: str
    wwn: str
    group: str | None     # replication id of its consistency group


@dataclass(frozen=True)
class Group:
    key: str              # replication id
    local: str | None     # this site's group id (ConsistencyGroup@id at the source)
    name: str


@dataclass
class Discovery:
    array_id: str
    peer_array_id: str
    devices: list[Device] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


@dataclass
class Selection:
    groups: list[str]
    devices: list[dict[str, str]]   # {"protected": lun id, "recovery": lun id}
    #: every device of the selection, group members included: {"protected", "recovery",
    #: "protected_wwn", "recovery_wwn"}, so a recovered device can name the device it stands for
    pairs: list[dict[str, str]] = field(default_factory=list)

    def peer_wwn(self, site: str, lun_id: str) -> str | None:
        """The WWN of the other site's device paired with ``lun_id`` at ``site``."""
        other = "recovery" if site == "protected" else "protected"
        for pair in self.pairs:
            if pair.get(site) == lun_id:
                return pair.get(f"{other}_wwn") or None
        return None


def parse_arrays(root: ET.Element) -> tuple[str, str]:
    array = root.find(f"{q('Arrays')}/{q('Array')}")
    if array is None:
        raise StepError("sra:discoverArrays", "the SRA reported no array")
    peer = array.find(f"{q('PeerArrays')}/{q('PeerArray')}")
    return array.get("id", ""), peer.get("id", "") if peer is not None else ""


def parse_devices(root: ET.Element, array_id: str, peer_id: str) -> Discovery:
    found = Discovery(array_id, peer_id)
    rd = root.find(q("ReplicatedDevices"))
    if rd is None:
        return found
    for cg in rd.iterfind(f"{q('ConsistencyGroups')}/{q('ConsistencyGroup')}"):
        key = _attr(cg.find(q("TargetGroup")), "key") or cg.get("id", "")
        found.groups.append(Group(key, cg.get("id"), text(cg, "Name")))
        found.devices += [_source(d, key) for d in _devices(cg, "SourceDevice")]
    for tg in rd.iterfind(f"{q('TargetGroups')}/{q('TargetGroup')}"):
        key = tg.get("key", "")
        found.groups.append(Group(key, None, text(tg, "Name")))
        found.devices += [_target(d, key) for d in _devices(tg, "TargetDevice")]
    found.devices += [_source(d, None) for d in _devices(rd, "SourceDevice")]
    found.devices += [_target(d, None) for d in _devices(rd, "TargetDevice")]
    return found


def _devices(node: ET.Element, tag: str) -> list[ET.Element]:
    return node.findall(f"{q(tag + 's')}/{q(tag)}")


def _attr(node: ET.Element | None, name: str) -> str:
    return node.get(name, "") if node is not None else ""


def _wwn(node: ET.Element) -> str:
    return text(node.find(q("Identity")), "Wwn").lower()


def _source(node: ET.Element, group: str | None) -> Device:
    remote = _attr(node.find(q("TargetDevice")), "key") or None
    return Device(node.get("id", ""), remote, text(node, "Name"), _wwn(node), group)


def _target(node: ET.Element, group: str | None) -> Device:
    return Device(node.get("key", ""), None, text(node, "Name"), _wwn(node), group)


class Selections:
    """Which SRA ids each protection group means: resolved by ``drkit protect`` (and on first
    use), then read from ``path``, so a disaster recovery works with the protected site gone."""

    def __init__(self, path: Path, discover_protected: Callable[[], Discovery],
                 discover_recovery: Callable[[], Discovery] | None = None) -> None:
        self.path = path
        self.discover_protected = discover_protected
        self.discover_recovery = discover_recovery

    def get(self, pg: ProtectionGroup) -> Selection:
        cached = self._load().get(pg.name)
        return Selection(**cached) if cached else self.refresh(pg)

    def refresh(self, pg: ProtectionGroup) -> Selection:
        """Resolve ``pg`` against the sites' discovery now and remember it (``drkit protect``:
        ids remembered before the arrays were rebuilt or re-paired are replaced)."""
        selection = resolve(pg, self.discover_protected())
        if self.discover_recovery is not None:
            add_recovery_wwns(selection, self.discover_recovery())
        data = self._load()
        data[pg.name] = asdict(selection)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)
        return selection

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}


def resolve(pg: ProtectionGroup, disc: Discovery) -> Selection:
    groups: list[str] = []
    devices: list[dict[str, str]] = []
    for member in pg.members:
        hit_groups = [g.key for g in disc.groups if member in (g.key, g.local, g.name)]
        hits = [d for d in disc.devices if member in (d.local, d.name, d.wwn.lower())]
        if not hit_groups and not hits:
            raise StepError(f"pg:{pg.name}", f"protection group {pg.name!r}: {pg.kind} member "
                            f"{member!r} is not a replicated device or group at the protected "
                            f"site ({disc.array_id})")
        groups += [g for g in hit_groups + [d.group for d in hits if d.group] if g not in groups]
        for d in hits:
            if d.group is None and d.remote is None:
                raise StepError(f"pg:{pg.name}", f"device {d.local!r} is a replica at the "
                                "protected site; resolve the group while it is the source")
            if d.group is None:
                devices.append({"protected": d.local, "recovery": d.remote or ""})
    members = [d for d in disc.devices if d.remote and (d.group in groups or any(
        d.local == x["protected"] for x in devices))]
    pairs = [{"protected": d.local, "recovery": d.remote or "", "protected_wwn": d.wwn}
             for d in members]
    return Selection(groups, devices, pairs)


def add_recovery_wwns(selection: Selection, disc: Discovery) -> None:
    wwns = {d.local: d.wwn for d in disc.devices}
    for pair in selection.pairs:
        pair["recovery_wwn"] = wwns.get(pair["recovery"], "")
