"""Generate a valid N-VM plan (for tests and benchmarks): ``python -m orchestrator.plan.generate
N [SEED] > plan.yaml``.

VMs spread over priorities 1 to 5, protection groups of ~250 VMs, recovery hosts of ~25 VMs; about a
third depend on a VM of the same or an earlier priority; every tenth has a post-power-on callout.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import yaml

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _site(name: str, port: int) -> dict[str, Any]:
    return {"name": name,
            "vcenter": {"url": f"http://127.0.0.1:{port}/sdk",
                        "credentials": {"env": f"DRKIT_VC_{name.upper().replace('-', '_')}"}},
            "sra": {"command": "perl sra/command.pl",
                    "connection": {"addresses": {"nss": f"http://127.0.0.1:{port + 1}"},
                                   "credentials": {"file": f"/etc/drkit/{name}.token"}}}}


def _vm(i: int, rng: random.Random, names: list[str], by_priority: dict[int, list[str]],
        n_groups: int, n_hosts: int) -> dict[str, Any]:
    priority = 1 + (i * 5) // max(len(names), 1)
    vm: dict[str, Any] = {"name": names[i], "priority": priority,
                          "protection_group": f"pg{i % n_groups}", "host": f"esx-b-{i % n_hosts}",
                          "cpus": 2, "memory_mb": 4096}
    earlier = [n for p in range(1, priority + 1) for n in by_priority.get(p, ())[-50:]]
    if earlier and rng.random() < 0.33:
        vm["depends_on"] = [rng.choice(earlier)]
    if i % 10 == 0:
        vm["callouts"] = {"post_power_on": [{"command": f"true {names[i]}", "timeout": 60}]}
    if i % 4 == 0:
        vm["ip_customization"] = [{"network": "VM Network", "ip": f"10.{i >> 16 & 255}."
                                   f"{i >> 8 & 255}.{i & 255}", "prefix": 16}]
    by_priority.setdefault(priority, []).append(names[i])
    return vm


def generate_dict(n_vms: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    n_groups, n_hosts = max(1, n_vms // 250), max(1, n_vms // 25)
    names = [f"vm{i:05d}" for i in range(n_vms)]
    by_priority: dict[int, list[str]] = {}
    vms = [_vm(i, rng, names, by_priority, n_groups, n_hosts) for i in range(n_vms)]
    return {
        "name": f"generated-{n_vms}",
        "sites": {"protected": _site("site-a", 18989), "recovery": _site("site-b", 19989)},
        "inventory": {"networks": {"VM Network": "DR Network"},
                      "test_networks": {"VM Network": "Test Bubble"},
                      "placeholder_datastores": {f"ds{g}": f"ph{g}" for g in range(n_groups)}},
        "protection_groups": [{"name": f"pg{g}", "datastores": [f"ds{g}"]}
                              for g in range(n_groups)],
        "vms": vms,
        "options": {"concurrency": {"per_site": 64, "per_host": 8}},
    }


def generate_yaml(n_vms: int, seed: int = 0) -> str:
    return yaml.dump(generate_dict(n_vms, seed), Dumper=_DUMPER, sort_keys=False,
                     default_flow_style=None, width=120)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(generate_yaml(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2
                                   else 0))
