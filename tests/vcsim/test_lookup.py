"""The adapter answers per-VM questions from one VM's properties and a cached name → VM map.
Another client changing the site behind its back (unregister, rename, a new VM taking a freed
name) must never make it answer about the wrong VM."""

from __future__ import annotations

import time

import pytest
from pyVmomi import vim

from orchestrator.errors import VMNotFound
from orchestrator.vsphere import inventory as inv
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter
from orchestrator.vsphere.tasks import wait_for_task
from simulators.vcsim.guest import BOOT_DELAY_KEY

VM0, VM1 = "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"


@pytest.fixture
def two_clients(site_factory, si_of):
    site = site_factory("cache", guest=False, vms=2)
    adapter = PyVmomiAdapter(si_of(site), mounter=None)
    return adapter, si_of(site)


def test_vm_info_follows_changes_made_by_another_client(two_clients):
    adapter, other = two_clients
    refs = inv.names(other, vim.VirtualMachine)
    path1 = adapter.vm_info(VM1).vmx_path
    assert adapter.vm_info(VM0).power_state and adapter.vm_info(VM0).host  # both cached now

    wait_for_task(refs[VM1].Rename_Task("renamed"), "rename")
    with pytest.raises(VMNotFound, match=VM1):  # its cached reference now has another name
        adapter.vm_info(VM1)

    refs[VM0].UnregisterVM()
    with pytest.raises(VMNotFound, match=VM0):
        adapter.vm_info(VM0)

    wait_for_task(refs[VM1].Rename_Task(VM0), "rename")  # it takes the freed name
    assert adapter.vm_info(VM0).vmx_path == path1


def test_power_actions_reach_the_vm_that_has_the_name_now(two_clients):
    adapter, other = two_clients
    refs = inv.names(other, vim.VirtualMachine)
    adapter.power_off(VM0)
    adapter.power_off(VM1)
    refs[VM0].UnregisterVM()
    wait_for_task(refs[VM1].Rename_Task(VM0), "rename")

    adapter.power_on(VM0)
    assert refs[VM1].runtime.powerState == "poweredOn"
    assert adapter.vm_info(VM0).power_state == "poweredOn"
    with pytest.raises(VMNotFound, match=VM1):
        adapter.power_on(VM1)


def test_guest_emulator_honours_each_vms_own_boot_delay(site_factory, si_of):
    site = site_factory("boot", vms=2, boot_delay_s=0.2)
    adapter = PyVmomiAdapter(si_of(site), mounter=None)
    refs = inv.names(si_of(site), vim.VirtualMachine)
    for name in (VM0, VM1):
        adapter.power_off(name)
    slow = vim.option.OptionValue(key=BOOT_DELAY_KEY, value="3")
    wait_for_task(refs[VM1].ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[slow])), "delay")

    started = time.monotonic()
    adapter.power_on(VM1)
    adapter.power_on(VM0)
    adapter.wait_for_tools(VM0, 30)  # the site's default delay (0.2 s)
    adapter.wait_for_tools(VM1, 30)
    assert time.monotonic() - started >= 3.0  # never before its own delay
