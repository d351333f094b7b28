"""Run the real SRA (``perl sra/command.pl``) in a subprocess, the way SRM does.

The request's OutputFile, StatusFile and LogDirectory are rewritten to paths under a temporary
directory (real SRM requests carry Windows paths), everything else is passed unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[2]
COMMAND_PL = REPO / "sra" / "command.pl"
NS = "http://www.vmware.com/srm/sra/v2"


@dataclass
class SraRun:
    returncode: int
    stdout: str
    stderr: str
    response: bytes | None
    status: bytes | None
    logs: list[Path]

    @property
    def root(self) -> ET.Element:
        assert self.response is not None, self.stderr
        return ET.fromstring(self.response)

    def error_codes(self) -> list[int]:
        return [int(e.get("code")) for e in self.root.iter(f"{{{NS}}}Error")]


def rewrite(request: str, workdir: Path) -> str:
    """Point the file elements of ``request`` into ``workdir``."""
    paths = {"OutputFile": workdir / "output.xml", "StatusFile": workdir / "status.xml",
             "LogDirectory": workdir / "logs"}
    (workdir / "logs").mkdir(exist_ok=True)
    for tag, path in paths.items():
        request = re.sub(rf"<{tag}>[^<]*</{tag}>", lambda _m, t=tag, p=path: f"<{t}>{p}</{t}>",
                         request)
    return request


def run_sra(request: str | bytes, workdir: Path, *, keep_paths: bool = False,
            timeout: float = 60) -> SraRun:
    """Run command.pl with ``request`` on stdin and collect what it produced."""
    text = request.decode() if isinstance(request, bytes) else request
    if not keep_paths:
        text = rewrite(text, workdir)
    out = workdir / "output.xml"
    out.unlink(missing_ok=True)
    env = {**os.environ, "DRKIT_PYTHON": sys.executable}
    proc = subprocess.run(["perl", str(COMMAND_PL)], input=text.encode(), capture_output=True,
                          env=env, cwd=workdir, timeout=timeout)
    status = workdir / "status.xml"
    return SraRun(proc.returncode, proc.stdout.decode(), proc.stderr.decode(),
                  out.read_bytes() if out.exists() else None,
                  status.read_bytes() if status.exists() else None,
                  sorted((workdir / "logs").glob("*.log")))


def command(name: str, params: str = "", *, connection: str = "", level: str = "verbose") -> str:
    """A request envelope around ``params`` (the XML of <...Parameters>)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Command xmlns="{NS}">
  <Name>{name}</Name>
  <OutputFile>C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-output-1-0</OutputFile>
  <StatusFile>C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-status-2-0</StatusFile>
  <LogLevel>{level}</LogLevel>
  <LogDirectory>C:\\ProgramData\\VMware\\SRM\\Logs\\SRAs\\drkit NSS</LogDirectory>
  {connection}
  {params}
</Command>"""


def address(url: str, **options: str) -> str:
    """``url`` with the SRA's connection options as its query string (XML-escaped)."""
    query = urlencode(options)
    return escape(f"{url.rstrip('/')}/?{query}" if query else url)


def connection(url: str, token: str, **options: str) -> str:
    return f"""<Connections><Connection id="nss">
    <Addresses><Address id="address">{address(url, **options)}</Address></Addresses>
    <Username>administrator@vsphere.local</Username><Password>{escape(token)}</Password>
    </Connection></Connections>"""
