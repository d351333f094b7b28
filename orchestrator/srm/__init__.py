"""drkit playing SRM towards any SRA: ``perl command.pl``, XML on stdin, Response in OutputFile.

- ``invoke.py``  run one SRA command exactly as SRM does and parse its Response;
- ``port.py``    the orchestrator's StoragePort on top of it: protection groups → SRA ids.
"""
