"""vSphere side of recovery: the adapter contract (adapter.py) and its pyvmomi implementation."""
