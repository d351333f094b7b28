from .cli import nss

nss(prog_name="python -m simulators.nss")
