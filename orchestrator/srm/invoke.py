"""Run one SRA command as SRM does and return its parsed Response.

SRM writes the request XML to the process's stdin (no arguments), waits while watching the
StatusFile, and reads the answer from OutputFile. A whole-command ``<Error code>`` becomes
:class:`SraCommandError`; a process that dies, times out or writes no Response becomes
:class:`SraProcessError` (transient: SRM would retry). Secrets are written only into the request
on stdin, never into a file, a log or an error message.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as DET

from orchestrator.ports.errors import StepError, TransientStepError

NS = "http://www.vmware.com/srm/sra/v2"
Q = f"{{{NS}}}"


class SraCommandError(StepError):
    """The SRA answered the whole command with ``<Error code=…>``."""

    def __init__(self, command: str, code: str, description: str) -> None:
        super().__init__(f"sra:{command}", f"SRA {command} failed with error {code}: "
                         f"{description or '(no description)'}")
        self.command = command
        self.code = code


class SraProcessError(TransientStepError):
    """The SRA process failed without a Response (crash, timeout, unusable output)."""


@dataclass(frozen=True)
class Connection:
    """Where the SRA finds its array: addresses, username, the secret, opaques."""

    addresses: dict[str, str]
    username: str
    password: str | Callable[[], str] = field(repr=False)  # a callable is read at call time
    opaques: dict[str, str] = field(default_factory=dict)

    def secret(self) -> str:
        return self.password() if callable(self.password) else self.password


def q(tag: str) -> str:
    return Q + tag


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, q(tag), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        child.text = text
    return child


class SraInvoker:
    """One SRA installation (its command line) and one connection to its array."""

    def __init__(self, command: list[str], connection: Connection | None,
                 log_dir: Path, timeout: float = 300.0, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = env or {}
        self.connection = connection
        self.log_dir = log_dir
        self.timeout = timeout
        self.cwd = cwd

    def call(self, name: str, params: ET.Element | None = None,
             connect: bool = True) -> ET.Element:
        """Run ``name`` with ``params`` (a ``<NameParameters>`` element) and return the Response
        root; raises on a whole-command error."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="drkit-srm-") as tmp:
            out, status = Path(tmp) / "output.xml", Path(tmp) / "status.xml"
            request = self._request(name, out, status, params, connect)
            self._run(name, request)
            root = self._parse(name, out)
        error = root.find(q("Error"))
        if error is not None:
            raise SraCommandError(name, error.get("code", "?"), text(error, "Description"))
        return root

    def _request(self, name: str, out: Path, status: Path, params: ET.Element | None,
                 connect: bool) -> bytes:
        root = ET.Element(q("Command"))
        for tag, value in (("Name", name), ("OutputFile", str(out)), ("StatusFile", str(status)),
                           ("LogLevel", "verbose"), ("LogDirectory", str(self.log_dir))):
            sub(root, tag, value)
        if connect and self.connection is not None:
            root.append(self._connections())
        if params is not None:
            root.append(params)
        ET.register_namespace("", NS)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _connections(self) -> ET.Element:
        conn = self.connection
        assert conn is not None
        wrapper = ET.Element(q("Connections"))
        node = sub(wrapper, "Connection", id="drkit")
        addresses = sub(node, "Addresses")
        for key, value in conn.addresses.items():
            sub(addresses, "Address", value, id=key)
        sub(node, "Username", conn.username)
        sub(node, "Password", conn.secret())
        if conn.opaques:
            opaques = sub(node, "Opaques")
            for key, value in conn.opaques.items():
                sub(opaques, "Opaque", value, id=key)
        return wrapper

    def _run(self, name: str, request: bytes) -> None:
        started = time.monotonic()
        try:
            proc = subprocess.run(self.command, input=request, capture_output=True,
                                  timeout=self.timeout, cwd=self.cwd,
                                  env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            raise SraProcessError(f"sra:{name}", f"SRA {name} did not finish within "
                                  f"{self.timeout:.0f}s") from None
        except OSError as exc:
            raise StepError(f"sra:{name}", f"cannot run the SRA {self.command[0]!r}: "
                            f"{exc.strerror}") from None
        if proc.returncode != 0:
            line = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["-"]
            raise SraProcessError(f"sra:{name}", f"SRA {name} exited {proc.returncode} after "
                                  f"{time.monotonic() - started:.1f}s: {line[0][:300]}")

    def _parse(self, name: str, out: Path) -> ET.Element:
        try:
            root = DET.fromstring(out.read_bytes())
        except (OSError, ET.ParseError) as exc:
            raise SraProcessError(f"sra:{name}", f"SRA {name} wrote no readable Response "
                                  f"({type(exc).__name__})") from None
        if root.tag != q("Response"):
            raise SraProcessError(f"sra:{name}", f"SRA {name} answered <{root.tag}>, "
                                  "not a Response")
        return root


def text(node: ET.Element | None, tag: str) -> str:
    if node is None:
        return ""
    child = node.find(q(tag))
    return (child.text or "").strip() if child is not None else ""


def item_errors(root: ET.Element) -> list[str]:
    """Per-item ``<Error>``s anywhere below the results: ``"<Tag id/key>: code description"``."""
    found = []
    for parent in root.iter():
        for err in parent.findall(q("Error")):
            ident = parent.get("id") or parent.get("key") or "?"
            tag = parent.tag.removeprefix(Q)
            found.append(f"{tag} {ident}: error {err.get('code', '?')} "
                         f"{text(err, 'Description')}".strip())
    return found
