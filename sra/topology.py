"""What the appliance's replications look like from the SRA: devices, pairs and their keys.

This is the one place that reads replication records (NSS-API.md ``/replications``) and decides
the identities SRM sees. Identities (documented in sra/README.md):

* ``SourceDevice@id``  = the source LUN's id on the protected appliance;
* ``TargetDevice@key`` = the replica LUN's id on the recovery appliance. The source learns it from
  the replication record, the recovery site reads it off its own LUN: the same string at both
  sites, so it round-trips exactly;
* ``ConsistencyGroup@id`` = the source group's id; ``TargetGroup@key`` = the replication's id
  (both appliances keep a replication record under one id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sra import errors

Json = dict[str, Any]


@dataclass(frozen=True)
class Member:
    source: str   # LUN id at the source appliance
    replica: str  # LUN id at the replica appliance


@dataclass(frozen=True)
class Pair:
    """One replication as seen from this appliance."""

    id: str
    local_is_source: bool
    is_group: bool
    source: str               # LUN or group id at the source appliance
    peer: str                 # the other appliance's id
    state: str
    members: tuple[Member, ...]
    raw: Json

    @property
    def key(self) -> str:
        """TargetGroup@key / TargetDevice@key of a single device."""
        return self.id if self.is_group else self.members[0].replica

    def local_luns(self) -> list[str]:
        return [m.source if self.local_is_source else m.replica for m in self.members]


def pair_from(rep: Json) -> Pair:
    """One ``/replications`` record. Both appliances keep it under the same id; ``direction``
    is ``outbound`` on the source, ``inbound`` on the replica side, and ``devices`` pairs each
    local LUN (``local``) with the peer's (``remote``)."""
    outbound = rep.get("direction") == "outbound"
    members = tuple(Member(d["local"], d["remote"]) if outbound else Member(d["remote"], d["local"])
                    for d in rep.get("devices", []))
    if not members:
        raise errors.ArrayInternal(f"replication {rep.get('id')!r} has no devices")
    group = rep.get("source_kind") == "group"
    source = (rep.get("source") or rep.get("local_group") or "") if outbound else ""
    return Pair(id=str(rep["id"]), local_is_source=outbound, is_group=group,
                source=str(source or (rep["id"] if group else members[0].source)),
                peer=str(rep.get("peer", "")), state=str(rep.get("state", "")),
                members=members, raw=rep)


@dataclass
class Topology:
    """Every replication of the local appliance, indexed by the ids SRM uses."""

    local_id: str
    pairs: list[Pair]

    def with_peer(self, peer: str) -> list[Pair]:
        return [p for p in self.pairs if not peer or p.peer == peer]

    def _why_not(self, lun_id: str, tag: str, source: bool) -> errors.SraError:
        """The most specific error for a device that is not a single ``tag`` here."""
        for pair in self.pairs:
            if lun_id not in pair.local_luns():
                continue
            if pair.is_group:
                return errors.GroupSplit(f"{tag} {lun_id!r} belongs to the consistency group of "
                                         f"replication {pair.id!r}: name the group instead")
            if pair.local_is_source != source:
                cls = errors.NotSource if source else errors.NotReplica
                side = "a replica" if source else "the source"
                return cls(f"{tag} {lun_id!r} is {side} here (replication {pair.id!r})")
        return errors.UnknownDevice(f"{tag} {lun_id!r} is not a replicated device on this array")

    def source_device(self, lun_id: str) -> Pair:
        for pair in self.pairs:
            if pair.local_is_source and not pair.is_group and pair.members[0].source == lun_id:
                return pair
        raise self._why_not(lun_id, "SourceDevice", source=True)

    def source_group(self, group_id: str) -> Pair:
        for pair in self.pairs:
            if pair.local_is_source and pair.is_group and group_id in (pair.source, pair.id):
                return pair
        raise errors.UnknownGroup(f"ConsistencyGroup {group_id!r} is not a replicated group here")

    def target_device(self, key: str) -> Pair:
        for pair in self.pairs:
            if not pair.local_is_source and not pair.is_group and pair.members[0].replica == key:
                return pair
        raise self._why_not(key, "TargetDevice", source=False)

    def target_group(self, key: str) -> Pair:
        for pair in self.pairs:
            if not pair.local_is_source and pair.is_group and pair.id == key:
                return pair
        raise errors.UnknownGroup(f"TargetGroup {key!r} is not a replica group on this array")

    def device(self, lun_id: str) -> Pair:
        """Any replicated device by its local LUN id (either role; a group member gives the
        group's pair, since a group changes roles as a whole)."""
        for pair in sorted(self.pairs, key=lambda p: p.is_group):
            if lun_id in pair.local_luns():
                return pair
        raise errors.UnknownDevice(f"Device {lun_id!r} is not replicated on this array")

    def group(self, group_id: str) -> Pair:
        """A replicated group by replication id, source group id or this side's group id."""
        for pair in self.pairs:
            if pair.is_group and group_id in (pair.id, pair.source, pair.raw.get("local_group")):
                return pair
        raise errors.UnknownGroup(f"ConsistencyGroup {group_id!r} is not replicated here")
