"""Read vCenter inventory through the property collector (one round trip per object type).

Reading through the property collector, not pyvmomi's per-attribute accessors, is also what keeps
vcsim 0.24.2 alive: its single-property fetch panics on empty properties (e.g. a VM without NICs).
"""

from __future__ import annotations

from typing import Any

from pyVmomi import vim, vmodl

from orchestrator.vsphere.adapter import DatastoreInfo, HostInfo, Initiator, VmInfo
from orchestrator.vsphere.faults import vsphere_call

PC = vmodl.query.PropertyCollector
HOST_PROPS = ["name", "parent", "runtime.connectionState", "datastore",
              "config.storageDevice.hostBusAdapter"]
VM_PROPS = ["name", "runtime.powerState", "runtime.host", "guest.toolsRunningStatus",
            "guestHeartbeatStatus", "guest.ipAddress", "guest.hostName",
            "config.files.vmPathName", "datastore", "network"]


def service_content(si: Any) -> Any:
    """The ServiceInstanceContent of ``si``; ``si`` may already be one. Functions here take
    either: passing the content saves a round trip per call."""
    if isinstance(si, vim.ServiceInstanceContent):
        return si
    with vsphere_call("vCenter service content"):
        return si.RetrieveContent()


def collect(si: Any, kind: type, props: list[str],
            root: Any = None) -> list[tuple[Any, dict[str, Any]]]:
    """Every object of ``kind`` under ``root`` with the requested properties (missing: absent)."""
    content = service_content(si)
    with vsphere_call(f"{kind.__name__} inventory"):
        view = content.viewManager.CreateContainerView(root or content.rootFolder, [kind], True)
        try:
            spec = PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[PC.TraversalSpec(
                    name="v", path="view", skip=False, type=vim.view.ContainerView)])],
                propSet=[PC.PropertySpec(type=kind, pathSet=props)])
            result = content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
            objects = list(result.objects) if result else []
            while result and result.token:
                result = content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
                objects.extend(result.objects)
        finally:
            view.Destroy()
    found = [(o.obj, {p.name: p.val for p in o.propSet}) for o in objects]
    # an object being created right now (a concurrent RegisterVM) may have no name yet: skip it
    return [(ref, got) for ref, got in found if "name" not in props or "name" in got]


def object_props(si: Any, ref: Any, props: list[str]) -> dict[str, Any] | None:
    """The requested properties of the one object ``ref``; None when it no longer exists."""
    content = service_content(si)
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=ref, skip=False)],
                         propSet=[PC.PropertySpec(type=type(ref), pathSet=props)])
    with vsphere_call(f"{type(ref).__name__} {ref._moId}"):
        try:
            result = content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        except vmodl.fault.ManagedObjectNotFound:
            return None
    objects = result.objects if result else []
    return {p.name: p.val for p in objects[0].propSet} if objects else None


def names(si: Any, kind: type) -> dict[str, Any]:
    """name -> object for every object of ``kind``."""
    return {props["name"]: ref for ref, props in collect(si, kind, ["name"])}


def initiators(hbas: list[Any] | None) -> tuple[Initiator, ...]:
    found = []
    for hba in hbas or []:
        if isinstance(hba, vim.host.FibreChannelHba):
            found.append(Initiator("FC", wwpn(hba.portWorldWideName)))
        elif isinstance(hba, vim.host.InternetScsiHba) and hba.iScsiName:
            found.append(Initiator("iSCSI", hba.iScsiName))
    return tuple(found)


def wwpn(value: int) -> str:
    """64-bit WWPN -> '21:00:..' (lower-case, colon-separated)."""
    raw = f"{value & (2**64 - 1):016x}"
    return ":".join(raw[i:i + 2] for i in range(0, 16, 2))


def host_infos(si: Any) -> list[HostInfo]:
    live_ds = {ref._moId: props["name"] for ref, props in collect(si, vim.Datastore, ["name"])}
    hosts = []
    for _ref, p in collect(si, vim.HostSystem, HOST_PROPS):
        parent = p.get("parent")
        cluster = _name(parent) if isinstance(parent, vim.ClusterComputeResource) else None
        hosts.append(HostInfo(
            name=p["name"], datacenter=_datacenter(parent), cluster=cluster,
            connected=p.get("runtime.connectionState") == "connected",
            initiators=initiators(p.get("config.storageDevice.hostBusAdapter")),
            # vcsim keeps stale references of destroyed datastores; list only live ones
            datastores=tuple(sorted(live_ds[d._moId] for d in p.get("datastore", [])
                                    if d._moId in live_ds)),
        ))
    return sorted(hosts, key=lambda h: h.name)


def vm_infos(si: Any, root: Any = None) -> list[VmInfo]:
    hosts = {r._moId: p["name"] for r, p in collect(si, vim.HostSystem, ["name"])}
    ds = {r._moId: p["name"] for r, p in collect(si, vim.Datastore, ["name"])}
    nets = {r._moId: p["name"] for r, p in collect(si, vim.Network, ["name"])}
    return sorted((vm_info_from(p, hosts, ds, nets) for _r, p in
                   collect(si, vim.VirtualMachine, VM_PROPS, root)), key=lambda v: v.name)


def vm_info_from(p: dict[str, Any], hosts: dict[str, str], ds: dict[str, str],
                 nets: dict[str, str]) -> VmInfo:
    host = p.get("runtime.host")
    return VmInfo(
        name=p["name"], host=hosts.get(host._moId) if host is not None else None,
        power_state=str(p.get("runtime.powerState", "unknown")),
        tools_running=p.get("guest.toolsRunningStatus") == "guestToolsRunning",
        heartbeat=str(p.get("guestHeartbeatStatus", "gray")),
        ip_address=p.get("guest.ipAddress"), hostname=p.get("guest.hostName"),
        vmx_path=p.get("config.files.vmPathName"),
        datastores=tuple(sorted(ds[d._moId] for d in p.get("datastore", []) if d._moId in ds)),
        networks=tuple(sorted(nets[n._moId] for n in p.get("network", []) if n._moId in nets)),
    )


def datastore_infos(si: Any) -> list[DatastoreInfo]:
    hosts = {r._moId: p["name"] for r, p in collect(si, vim.HostSystem, ["name"])}
    out = []
    for _r, p in collect(si, vim.Datastore, ["name", "summary.url", "summary.type", "host"]):
        mounted = tuple(sorted(hosts[m.key._moId] for m in p.get("host", [])
                               if m.key._moId in hosts))
        out.append(DatastoreInfo(name=p["name"], url=p.get("summary.url", ""),
                                 type=p.get("summary.type", ""), hosts=mounted))
    return sorted(out, key=lambda d: d.name)


def _name(obj: Any) -> str:
    with vsphere_call("inventory"):
        return obj.name


def _datacenter(obj: Any) -> str:
    with vsphere_call("inventory"):
        while obj is not None and not isinstance(obj, vim.Datacenter):
            obj = obj.parent
        return obj.name if obj is not None else ""
