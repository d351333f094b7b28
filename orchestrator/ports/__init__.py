"""The contracts through which a run acts on the world, one instance per site.

- :mod:`orchestrator.ports.storage` — ``StoragePort``: the SRA verbs as SRM calls them
  (implemented by ``orchestrator.srm.port.SraStoragePort`` over any vendor's SRA).
- :mod:`orchestrator.ports.vsphere` — ``VspherePort``: what recovery needs of a vCenter
  (implemented by ``orchestrator.vsphere.port.VsphereSitePort``).
- :mod:`orchestrator.ports.inventory` — the live sites read through both, for drift checks.
- :mod:`orchestrator.ports.errors` — what ports and the steps using them raise.

These modules import only the plan's records (``orchestrator.plan``) and the error tree; steps,
adapters, the executor and the CLIs build on them, never the other way round.
"""
