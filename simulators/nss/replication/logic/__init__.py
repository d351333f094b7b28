"""Replication's pure logic: no I/O, no clocks it does not take as arguments, no appliance.

- ``microscan.py`` / ``microscan_batch.py`` / ``microscan_kinds.py``  which 512-byte sectors
  changed, as extents (public face / batches and coalescing / the numpy core of one batch).
- ``wire.py``      the sealed delta format (zstd + AES-256-GCM), one part per message.
- ``parts.py``     cutting an extent stream into parts that fill exactly, resumable by offset.
- ``planner.py``   what a cycle must send: a plan or a typed conflict.
- ``policy.py``    replication policies, when the next cycle is due, RPO states.
- ``errors.py``    the replication error tree and the one transient/permanent classifier.

The driver (``replication/``: service, source, target, roles, peers) does the I/O around it.
"""
