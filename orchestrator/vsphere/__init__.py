"""vSphere side of recovery.

- ``adapter.py``: the contract (``VSphereAdapter`` protocol and its records);
- ``pyvmomi_adapter.py``: the implementation (``for_vcenter`` / ``for_vcsim``), built from
  ``connection.py`` (login), ``inventory.py`` (property-collector reads), ``vmspec.py`` (protection
  record -> ReconfigVM spec), ``datastores.py`` (VMFS resignature vs the vcsim tar stand-in in
  ``standin.py``), ``tasks.py`` (the one wait-for-task helper) and ``faults.py`` (the one place
  pyvmomi faults become ``orchestrator.errors``);
- ``dryrun.py``: the read-only path for dry runs;
- ``protection.py``: protection records (JSON), what SRM keeps in placeholder VMs;
- ``checks.py``: validation shared by the real and the dry-run adapters.
"""
