"""Verb families; importing this package registers every handler (see sra.registry)."""

from sra.verbs import query  # noqa: F401
