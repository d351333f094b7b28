"""Verb families; importing this package registers every handler (see sra.registry).

None of these modules imports ``requests``: the array client is loaded on first use.
"""

from sra.verbs import discovery, failover, query, reverse, sync, testfailover  # noqa: F401
