"""drkit benchmarks (not tests). ``python -m bench`` runs them all; ``python -m bench NAME``
runs one (e.g. ``python -m bench wan --json``)."""
