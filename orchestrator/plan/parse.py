"""Turn a plan's parsed YAML (plain dicts) into :mod:`orchestrator.plan.model` records.

Structural checks only (types, ranges, unknown keys); cross-references are checked in
:mod:`orchestrator.plan.validate`. Every issue is collected in the :class:`Reader`.
"""

from __future__ import annotations

import shlex
from typing import Any

from orchestrator.plan.model import (
    SITE_ROLES,
    WORKFLOWS,
    Callout,
    CredentialRef,
    CustomStep,
    Inventory,
    IpSetting,
    Options,
    Plan,
    ProtectionGroup,
    Site,
    Sra,
    SraConnection,
    VCenter,
    Vm,
)
from orchestrator.plan.schema import Reader, join

TOP_KEYS = ("name", "description", "sites", "inventory", "protection_groups", "vms", "steps",
            "options")
GROUP_KINDS = ("datastores", "devices", "consistency_groups")
SECRET_KEYS = ("password", "secret", "token")


def parse_plan(data: Any, reader: Reader, source: str = "<plan>") -> Plan | None:
    """Read a whole plan; returns ``None`` only if the top level is not a mapping."""
    top = reader.mapping(data, "", TOP_KEYS, required=("name", "sites", "vms"))
    if top is None:
        return None
    name = reader.identifier(top, "name", "") or "unnamed"
    description = reader.string(top, "description", "", default="") or ""
    sites = _sites(reader, top.get("sites"))
    inventory = _inventory(reader, top.get("inventory") or {})
    groups = tuple(_group(reader, g, f"protection_groups[{i}]")
                   for i, g in enumerate(reader.items(top.get("protection_groups"),
                                                      "protection_groups")))
    single = groups[0].name if len(groups) == 1 and groups[0] else None
    vms = tuple(_vm(reader, v, f"vms[{i}]", i, single, len(groups))
                for i, v in enumerate(reader.items(top.get("vms"), "vms")))
    steps = tuple(_custom_step(reader, s, f"steps[{i}]", i)
                  for i, s in enumerate(reader.items(top.get("steps"), "steps")))
    return Plan(
        name=name,
        description=description,
        sites=sites,
        inventory=inventory,
        protection_groups=tuple(g for g in groups if g),
        vms=tuple(v for v in vms if v),
        steps=tuple(s for s in steps if s),
        options=_options(reader, top.get("options") or {}),
        source=source,
    )


def credential(reader: Reader, value: Any, path: str) -> CredentialRef:
    """``{env: NAME}`` or ``{file: PATH}`` (plus optional ``username``); never a password."""
    if isinstance(value, dict):
        for key in SECRET_KEYS:
            if key in value:
                reader.error(join(path, key), "secrets are never written in a plan; use "
                                              "'env: VARIABLE' or 'file: PATH'")
    allowed = ("username", "env", "file", *(k for k in SECRET_KEYS if isinstance(value, dict)
                                            and k in value))
    data = reader.mapping(value, path, allowed, nullable=True)
    if data is None:
        return CredentialRef()
    ref = CredentialRef(reader.string(data, "username", path, None),
                        reader.string(data, "env", path, None),
                        reader.string(data, "file", path, None))
    if (ref.env is None) == (ref.file is None):
        reader.error(path, "give exactly one of 'env' or 'file'")
    return ref


def _sites(reader: Reader, value: Any) -> dict[str, Site]:
    data = reader.mapping(value, "sites", SITE_ROLES, required=SITE_ROLES, nullable=True)
    if data is None:
        return {}
    return {role: _site(reader, data[role], f"sites.{role}", role)
            for role in SITE_ROLES if data.get(role) is not None}


def _site(reader: Reader, value: Any, path: str, role: str) -> Site:
    data = reader.mapping(value, path, ("name", "vcenter", "sra"), ("name", "vcenter", "sra"))
    data = data or {}
    return Site(role, reader.string(data, "name", path, role),
                _vcenter(reader, data.get("vcenter"), join(path, "vcenter")),
                _sra(reader, data.get("sra"), join(path, "sra")))


def _vcenter(reader: Reader, value: Any, path: str) -> VCenter:
    data = reader.mapping(value, path, ("url", "credentials", "insecure"),
                          ("url", "credentials"), nullable=True) or {}
    url = reader.string(data, "url", path, "") or ""
    if url and not url.startswith(("http://", "https://")):
        reader.error(join(path, "url"), f"expected an http(s) URL, got '{url}'")
    return VCenter(url, credential(reader, data.get("credentials"), join(path, "credentials")),
                   reader.boolean(data, "insecure", path, False))


def _sra(reader: Reader, value: Any, path: str) -> Sra:
    data = reader.mapping(value, path, ("command", "connection", "array_id", "peer_array_id"),
                          ("command", "connection"), nullable=True) or {}
    command = data.get("command")
    argv = tuple(shlex.split(command)) if isinstance(command, str) else reader.strings(
        data, "command", path)
    conn_path = join(path, "connection")
    conn = reader.mapping(data.get("connection"), conn_path,
                          ("addresses", "credentials", "opaques"),
                          ("addresses", "credentials"), nullable=True) or {}
    connection = SraConnection(reader.string_map(conn, "addresses", conn_path),
                               credential(reader, conn.get("credentials"),
                                          join(conn_path, "credentials")),
                               reader.string_map(conn, "opaques", conn_path))
    return Sra(argv, connection, reader.string(data, "array_id", path, None),
               reader.string(data, "peer_array_id", path, None))


def _inventory(reader: Reader, value: Any) -> Inventory:
    fields = ("networks", "test_networks", "clusters", "resource_pools", "folders",
              "placeholder_datastores")
    data = reader.mapping(value, "inventory", fields) or {}
    return Inventory(**{f: reader.string_map(data, f, "inventory") for f in fields})


def _group(reader: Reader, value: Any, path: str) -> ProtectionGroup | None:
    data = reader.mapping(value, path, ("name", *GROUP_KINDS), ("name",))
    if data is None:
        return None
    kinds = [k for k in GROUP_KINDS if k in data]
    if len(kinds) != 1:
        reader.error(path, f"give exactly one of {', '.join(GROUP_KINDS)}")
    kind = kinds[0] if kinds else GROUP_KINDS[0]
    members = reader.strings(data, kind, path)
    if kinds and not members:
        reader.error(join(path, kind), "must name at least one")
    return ProtectionGroup(reader.string(data, "name", path, "?") or "?", kind, members)


VM_KEYS = ("name", "protection_group", "priority", "depends_on", "startup", "wait_for_tools",
           "tools_timeout", "host", "cpus", "memory_mb", "ip_customization", "callouts")


def _vm(reader: Reader, value: Any, path: str, index: int, single: str | None,
        n_groups: int) -> Vm | None:
    data = reader.mapping(value, path, VM_KEYS, ("name",))
    if data is None:
        return None
    group = reader.string(data, "protection_group", path, single)
    if group is None and n_groups:
        reader.error(join(path, "protection_group"), "required when the plan has several "
                                                     "protection groups")
    elif group is None:
        reader.error(join(path, "protection_group"), "the plan has no protection_groups to "
                                                     "put this VM in")
    callouts = _callouts(reader, data.get("callouts"), join(path, "callouts"))
    return Vm(
        name=reader.string(data, "name", path) or f"#{index}",
        protection_group=group or "?",
        priority=reader.number(data, "priority", path, 3, 1, 5, integer=True),
        depends_on=reader.strings(data, "depends_on", path),
        startup=reader.choice(data, "startup", path, ("power-on", "leave-off"), "power-on"),
        wait_for_tools=reader.boolean(data, "wait_for_tools", path, True),
        tools_timeout=reader.number(data, "tools_timeout", path, None, 1),
        host=reader.string(data, "host", path, None),
        cpus=reader.number(data, "cpus", path, None, 1, integer=True),
        memory_mb=reader.number(data, "memory_mb", path, None, 1, integer=True),
        ip=tuple(_ip(reader, item, join(join(path, "ip_customization"), i)) for i, item in
                 enumerate(reader.items(data.get("ip_customization"),
                                        join(path, "ip_customization")))),
        pre_power_on=callouts[0],
        post_power_on=callouts[1],
        index=index,
    )


def _ip(reader: Reader, value: Any, path: str) -> IpSetting:
    data = reader.mapping(value, path, ("network", "ip", "prefix", "gateway", "dns"),
                          ("network",)) or {}
    ip = reader.string(data, "ip", path, None)
    prefix = reader.number(data, "prefix", path, None, 0, 32, integer=True)
    if ip and ip != "dhcp" and prefix is None:
        reader.error(join(path, "prefix"), "required with a static ip")
    return IpSetting(reader.string(data, "network", path, "?") or "?",
                     None if ip == "dhcp" else ip, prefix,
                     reader.string(data, "gateway", path, None), reader.strings(data, "dns", path))


def _callouts(reader: Reader, value: Any, path: str) -> tuple[tuple[Callout, ...], ...]:
    if not value:  # most VMs have none
        return (), ()
    data = reader.mapping(value, path, ("pre_power_on", "post_power_on")) or {}
    return tuple(tuple(_callout(reader, item, join(join(path, when), i))
                       for i, item in enumerate(reader.items(data.get(when), join(path, when))))
                 for when in ("pre_power_on", "post_power_on"))


def _callout(reader: Reader, value: Any, path: str) -> Callout:
    data = reader.mapping(value, path, ("command", "prompt", "timeout", "continue_on_error")) or {}
    kinds = [k for k in ("command", "prompt") if k in data]
    if len(kinds) != 1:
        reader.error(path, "give exactly one of 'command' or 'prompt'")
    kind = kinds[0] if kinds else "command"
    return Callout(kind, reader.string(data, kind, path, "") or "",
                   reader.number(data, "timeout", path, 300.0, 1),
                   reader.boolean(data, "continue_on_error", path, False))


STEP_KEYS = ("name", "type", "command", "message", "workflows", "after", "depends_on", "timeout",
             "creates", "idempotent", "continue_on_error")


def _custom_step(reader: Reader, value: Any, path: str, index: int) -> CustomStep | None:
    data = reader.mapping(value, path, STEP_KEYS, ("name", "type"))
    if data is None:
        return None
    kind = reader.choice(data, "type", path, ("command", "prompt"), "command")
    text_key = "command" if kind == "command" else "message"
    if text_key not in data:
        reader.error(join(path, text_key), f"required for a {kind} step")
    workflows = reader.strings(data, "workflows", path) or WORKFLOWS
    for wf in workflows:
        if wf not in WORKFLOWS:
            reader.error(join(path, "workflows"), f"unknown workflow '{wf}'")
    return CustomStep(
        name=reader.string(data, "name", path) or f"#{index}", type=kind,
        text=reader.string(data, text_key, path, "") or "", workflows=workflows,
        after=reader.string(data, "after", path, "end"),
        depends_on=reader.strings(data, "depends_on", path),
        timeout=reader.number(data, "timeout", path, None, 0.001),
        creates=reader.string(data, "creates", path, None),
        idempotent=reader.boolean(data, "idempotent", path, False),
        continue_on_error=reader.boolean(data, "continue_on_error", path, False), index=index)


def _options(reader: Reader, value: Any) -> Options:
    data = reader.mapping(value, "options", ("concurrency", "timeouts", "error_policy",
                                             "require_app_consistent", "test_sync", "retries"))
    data = data or {}
    conc = reader.mapping(data.get("concurrency") or {}, "options.concurrency",
                          ("per_site", "per_host")) or {}
    times = reader.mapping(data.get("timeouts") or {}, "options.timeouts",
                           ("step", "tools", "sra")) or {}
    d = Options()
    return Options(
        per_site=reader.number(conc, "per_site", "options.concurrency", d.per_site, 1,
                               integer=True),
        per_host=reader.number(conc, "per_host", "options.concurrency", d.per_host, 1,
                               integer=True),
        step_timeout=reader.number(times, "step", "options.timeouts", d.step_timeout, 0.001),
        tools_timeout=reader.number(times, "tools", "options.timeouts", d.tools_timeout, 0.001),
        sra_timeout=reader.number(times, "sra", "options.timeouts", d.sra_timeout, 0.001),
        error_policy=reader.choice(data, "error_policy", "options", ("continue", "stop"),
                                   d.error_policy),
        require_app_consistent=reader.boolean(data, "require_app_consistent", "options", False),
        test_sync=reader.boolean(data, "test_sync", "options", True),
        retries=reader.number(data, "retries", "options", d.retries, 0, 10, integer=True),
    )
