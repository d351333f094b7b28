"""Running workflow DAGs: the journal and the executor."""
