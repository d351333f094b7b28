"""Cheap questions about one VM, for one vCenter session.

Reading the whole inventory to answer "is VM x on?" made a 200-VM recovery CPU-bound: every
status poll parsed every VM of the site. A :class:`Lookup` instead

* maps a VM's name to its reference through a cache that is checked on every use: the
  properties read back must carry the name asked for, else the map is read again (so a VM that
  was unregistered, renamed or registered anew is never mistaken for another);
* reads one VM's properties with one property-collector call on that VM alone;
* keeps moref → name and name → moref maps of hosts, datastores and networks, read again when
  a reference or name asked for is not in them, when they are older than :data:`TTL_S`, or
  when the adapter changed that kind of object itself (:meth:`Lookup.forget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from orchestrator.vsphere import inventory as inv

TTL_S = 5.0


@dataclass(frozen=True)
class _Names:
    """One read of a kind's names, both ways."""

    read_at: float
    by_name: dict[str, Any]
    by_id: dict[str, str]


class Lookup:
    """Name and property caches over one ServiceInstance; safe to share between threads."""

    def __init__(self, si: Any) -> None:
        self.content = inv.service_content(si)
        self._vms: dict[str, Any] = {}
        self._vms_read_at = float("-inf")  # when the read behind ``_vms`` started
        self._maps: dict[type, _Names] = {}
        self._lock = threading.Lock()

    def vm(self, name: str, props: Sequence[str] = ()) -> tuple[Any, dict[str, Any]] | None:
        """(reference, properties) of the VM called ``name`` now; None when there is none."""
        asked_at = time.monotonic()
        ref = self._vms.get(name)
        for known in (ref is not None, False):
            if not known:
                ref = self._read_vms(asked_at).get(name)
                if ref is None:
                    return None
            got = inv.object_props(self.content, ref, ["name", *props])
            if got is not None and got.get("name") == name:
                return ref, got
        return None

    def remember(self, name: str, ref: Any) -> None:
        """The caller just gave VM ``ref`` the name ``name`` (a registration, a rename)."""
        self._vms = {**self._vms, name: ref}

    def names(self, kind: type, ids: Iterable[str] = ()) -> dict[str, str]:
        """moId → name of every ``kind`` object; fresh enough to name each of ``ids``."""
        return self._objects(kind, lambda m: any(i not in m.by_id for i in ids)).by_id

    def named(self, kind: type, wanted: Iterable[str] = ()) -> dict[str, Any]:
        """name → reference of every ``kind`` object; fresh enough to hold each of ``wanted``
        (a name that is missing is always checked anew)."""
        return self._objects(kind, lambda m: any(n not in m.by_name for n in wanted)).by_name

    def forget(self, *kinds: type) -> None:
        """Drop the cached names of ``kinds`` (the caller just created or removed some)."""
        for kind in kinds:
            self._maps.pop(kind, None)

    def _objects(self, kind: type, missing: Callable[[_Names], bool]) -> _Names:
        """The cached maps of ``kind``, read again when older than :data:`TTL_S` or when
        ``missing`` says they lack something asked for."""
        maps = self._maps.get(kind)
        if maps is None or time.monotonic() - maps.read_at > TTL_S or missing(maps):
            found = [(ref, props["name"]) for ref, props in
                     inv.collect(self.content, kind, ["name"])]
            maps = _Names(time.monotonic(), {name: ref for ref, name in found},
                          {ref._moId: name for ref, name in found})  # every one, even namesakes
            self._maps[kind] = maps
        return maps

    def _read_vms(self, asked_at: float) -> dict[str, Any]:
        """name → reference of every VM, read after ``asked_at`` (parallel misses share a read
        that started after they were asked)."""
        with self._lock:
            if self._vms_read_at >= asked_at:
                return self._vms
            started = time.monotonic()
            self._vms = inv.names(self.content, vim.VirtualMachine)
            self._vms_read_at = started
            return self._vms
