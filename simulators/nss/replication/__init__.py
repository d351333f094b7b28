"""Replication between appliances: peers, replication pairs, sync cycles, role changes.

- ``peers.py``     pairing (mutual bearer tokens, a shared AES-256 pair key) and ``PeerLink``,
                   the one HTTP client to a peer (timeouts, tenacity backoff on transient faults).
- ``records.py``   the replication record both sides keep under the same id, and recovery points.
- ``source.py``    a sync cycle at the source: snapshot, plan, MicroScan diff, seal, ship, commit.
- ``target.py``    the replica side: stage parts, authenticate, commit atomically, recover.
- ``roles.py``     split, promote, demote, reverse, resume.
"""
