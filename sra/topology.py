"""What the appliance's replications look like from the SRA: devices, pairs and their keys.

This is the one place that reads replication records (NSS-API.md ``/replications``) and decides
the identities SRM sees. Identities (documented in sra/README.md):

* ``SourceDevice@id``  = the source LUN's id on the protected appliance;
* ``TargetDevice@key`` = the replica LUN's id on the recovery appliance. The source learns it from
  the replication record, the recovery site reads it off its own LUN: the same string at both
  sites, so it round-trips exactly;
* ``ConsistencyGroup@id`` = the source group's id; ``TargetGroup@key`` = the replication's id
  (a group replication has one id known to both appliances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sra import errors

Json = dict[str, Any]


def _pick(record: Json, *names: str, default: Any = "") -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return value
    return default


def _ref_id(value: Any) -> str:
    """A reference may be an id or an object with an id."""
    return str(value.get("id", "")) if isinstance(value, dict) else str(value or "")


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


def _members(rep: Json) -> tuple[Member, ...]:
    listed = _pick(rep, "members", "pairs", "devices", default=[])
    if listed:
        return tuple(Member(_ref_id(_pick(m, "source", "source_lun")),
                            _ref_id(_pick(m, "replica", "target", "replica_lun", "target_lun")))
                     for m in listed)
    return (Member(_ref_id(_pick(rep, "source_lun", "source")),
                   _ref_id(_pick(rep, "replica_lun", "replica", "target"))),)


def pair_from(rep: Json, local_id: str) -> Pair:
    """Normalise one replication record (tolerant of the spellings the contract leaves open)."""
    role = str(_pick(rep, "role", "direction", "local_role")).lower()
    source_appliance = _pick(rep, "source_appliance", "source_array")
    local_is_source = (role in ("source", "primary", "outgoing") if role
                       else source_appliance == local_id if source_appliance else True)
    kind = str(_pick(rep, "kind", "source_kind", "type")).lower()
    source_ref = _pick(rep, "source_group", "group", "source")
    return Pair(id=str(rep["id"]), local_is_source=local_is_source,
                is_group=kind == "group" or bool(_pick(rep, "source_group", "group")),
                source=_ref_id(source_ref), peer=_ref_id(_pick(rep, "peer_id", "peer")),
                state=str(_pick(rep, "state")), members=_members(rep), raw=rep)


@dataclass
class Topology:
    """Every replication of the local appliance, indexed by the ids SRM uses."""

    local_id: str
    pairs: list[Pair]

    def with_peer(self, peer: str) -> list[Pair]:
        return [p for p in self.pairs if not peer or p.peer == peer]

    def source_device(self, lun_id: str) -> Pair:
        for pair in self.pairs:
            if pair.local_is_source and not pair.is_group and pair.members[0].source == lun_id:
                return pair
        raise errors.UnknownDevice(f"SourceDevice {lun_id!r} is not a replicated source here")

    def source_group(self, group_id: str) -> Pair:
        for pair in self.pairs:
            if pair.local_is_source and pair.is_group and group_id in (pair.source, pair.id):
                return pair
        raise errors.UnknownGroup(f"ConsistencyGroup {group_id!r} is not a replicated group here")

    def target_device(self, key: str) -> Pair:
        for pair in self.pairs:
            if not pair.local_is_source and not pair.is_group and pair.members[0].replica == key:
                return pair
        raise errors.UnknownDevice(f"TargetDevice {key!r} is not a replica on this array")

    def target_group(self, key: str) -> Pair:
        for pair in self.pairs:
            if not pair.local_is_source and pair.is_group and pair.id == key:
                return pair
        raise errors.UnknownGroup(f"TargetGroup {key!r} is not a replica group on this array")

    def device(self, lun_id: str) -> Pair:
        """Any replicated device by its local LUN id (either role)."""
        for pair in self.pairs:
            if not pair.is_group and lun_id in pair.local_luns():
                return pair
        raise errors.UnknownDevice(f"Device {lun_id!r} is not replicated on this array")

    def group(self, group_id: str) -> Pair:
        for pair in self.pairs:
            if pair.is_group and group_id in (pair.id, pair.source):
                return pair
        raise errors.UnknownGroup(f"ConsistencyGroup {group_id!r} is not replicated here")
