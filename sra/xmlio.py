"""The only module that reads or writes SRA XML.

Reading: :func:`parse_request` turns the bytes SRM wrote to stdin into a frozen :class:`Request`.
It parses with defusedxml (no DTDs, no entities), is strict about the envelope (root ``Command``
in the v2 namespace, a ``Name``, an ``OutputFile``) and tolerant about everything else: unknown
elements are ignored, text is stripped, attributes (ids and keys such as ``async-LUN 11``) are
kept byte for byte so they round-trip.

Writing: :func:`el` builds elements in the exact order the protocol asks for; :func:`response`
wraps them in ``<Response xmlns=...v2>`` and serialises with an XML declaration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from sra import errors
from sra.errors import ForbiddenMarkup, MalformedRequest, MissingParameter, WrongNamespace

NS = "http://www.vmware.com/srm/sra/v2"


@dataclass(frozen=True)
class Initiator:
    id: str
    type: str


@dataclass(frozen=True)
class AccessGroup:
    id: str
    initiators: tuple[Initiator, ...] = ()


@dataclass(frozen=True)
class Item:
    """A device or group named in parameters: ``@id`` or ``@key``, maybe ``@syncId``."""

    id: str
    sync_id: str = ""
    access_groups: tuple[str, ...] = ()
    isolation_required: bool = False
    devices: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Params:
    """Every parameter any verb takes; absent ones are empty."""

    array_id: str = ""
    peer_array_id: str = ""
    locale: str = ""
    access_groups: tuple[AccessGroup, ...] = ()
    consistency_groups: tuple[Item, ...] = ()
    source_devices: tuple[Item, ...] = ()
    target_groups: tuple[Item, ...] = ()
    target_devices: tuple[Item, ...] = ()
    devices: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Connection:
    id: str
    addresses: tuple[str, ...]
    username: str
    password: str = field(repr=False)
    opaques: tuple[tuple[str, str], ...] = ()  # legacy input only: see sra/options.py


@dataclass(frozen=True)
class Request:
    name: str
    output_file: str
    status_file: str = ""
    log_level: str = "info"
    log_directory: str = ""
    connections: tuple[Connection, ...] = ()
    params: Params = Params()
    params_present: bool = False


_FORBIDDEN = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_OUTPUT_FILE = re.compile(r"<(?:\w+:)?OutputFile\s*>([^<]+)</(?:\w+:)?OutputFile\s*>")


def salvage_output_file(raw: bytes) -> str:
    """Best effort: the OutputFile of a request we could not parse ('' if none)."""
    match = _OUTPUT_FILE.search(raw.decode("utf-8", "replace"))
    return match.group(1).strip() if match else ""


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(node: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name] if node is not None else []


def _child(node: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: ET.Element | None, name: str) -> str:
    child = _child(node, name)
    return (child.text or "").strip() if child is not None else ""


def _parse_xml(raw: bytes) -> ET.Element:
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    if _FORBIDDEN.search(raw):
        raise ForbiddenMarkup("the request contains a DOCTYPE or ENTITY declaration")
    try:
        return DET.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ForbiddenMarkup(f"forbidden markup: {type(exc).__name__}") from None
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise MalformedRequest(f"the request is not well-formed XML: {exc}") from None


def parse_request(raw: bytes) -> Request:
    """Parse a request; raise a RequestError naming what is wrong."""
    root = _parse_xml(raw)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if namespace not in ("", NS):
        raise WrongNamespace(f"root namespace is {namespace!r}, expected {NS!r}")
    if _local(root.tag) != "Command":
        raise MalformedRequest(f"root element is <{_local(root.tag)}>, expected <Command>")
    name, output = _text(root, "Name"), _text(root, "OutputFile")
    if not output:
        raise MissingParameter("Command/OutputFile is missing or empty")
    if not name:
        raise MissingParameter("Command/Name is missing or empty")
    params_node = _params_node(root, name)
    return Request(
        name=name, output_file=output, status_file=_text(root, "StatusFile"),
        log_level=_text(root, "LogLevel").lower() or "info",
        log_directory=_text(root, "LogDirectory"),
        connections=tuple(_connection(c) for c in _children(_child(root, "Connections"),
                                                            "Connection")),
        params=_params(params_node), params_present=params_node is not None)


def _params_node(root: ET.Element, name: str) -> ET.Element | None:
    wanted = name[:1].upper() + name[1:] + "Parameters"
    exact = _child(root, wanted)
    if exact is not None:
        return exact
    others = [c for c in root if _local(c.tag).endswith("Parameters")]
    return others[0] if others else None


def _connection(node: ET.Element) -> Connection:
    return Connection(
        id=node.get("id", ""),
        addresses=tuple((a.text or "").strip()
                        for a in _children(_child(node, "Addresses"), "Address")
                        if (a.text or "").strip()),
        username=_text(node, "Username"),
        password=(_child(node, "Password").text or "").strip()
        if _child(node, "Password") is not None else "",
        opaques=tuple((o.get("id", ""), (o.text or "").strip())
                      for o in _children(_child(node, "Opaques"), "Opaque")))


def _flag(node: ET.Element, name: str) -> bool:
    """A boolean attribute (or child element) such as ``isolationRequired``."""
    value = node.get(name) or _text(node, name[:1].upper() + name[1:])
    return value.strip().lower() in ("true", "1", "yes")


def _item(node: ET.Element, member: str = "") -> Item:
    return Item(
        id=node.get("id") or node.get("key") or "",
        sync_id=node.get("syncId", ""),
        isolation_required=_flag(node, "isolationRequired"),
        access_groups=tuple(a.get("id", "") for a in
                            _children(_child(node, "AccessGroups"), "AccessGroup")),
        devices=_items(_child(node, member + "s"), member) if member else ())


def _items(node: ET.Element | None, name: str, member: str = "") -> tuple[Item, ...]:
    return tuple(_item(c, member) for c in _children(node, name))


def _params(node: ET.Element | None) -> Params:
    if node is None:
        return Params()
    return Params(
        array_id=_text(node, "ArrayId"), peer_array_id=_text(node, "PeerArrayId"),
        locale=_text(node, "Locale"),
        access_groups=tuple(
            AccessGroup(g.get("id", ""), tuple(Initiator(i.get("id", ""), i.get("type", ""))
                                              for i in _children(g, "Initiator")))
            for g in _children(_child(node, "AccessGroups"), "AccessGroup")),
        consistency_groups=_items(_child(node, "ConsistencyGroups"), "ConsistencyGroup",
                                  "SourceDevice"),
        source_devices=_items(_child(node, "SourceDevices"), "SourceDevice"),
        target_groups=_items(_child(node, "TargetGroups"), "TargetGroup", "TargetDevice"),
        target_devices=_items(_child(node, "TargetDevices"), "TargetDevice"),
        devices=_items(_child(node, "Devices"), "Device"))


# -- writing -----------------------------------------------------------------------------------

Element = ET.Element


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (the answer must stay well-formed)."""
    return _NOT_XML.sub("", text)


def el(tag: str, text: str | None = None, *children: ET.Element | None,
       **attrs: str) -> ET.Element:
    """An element with attributes (in the given order), optional text and children."""
    node = ET.Element(tag, {k: clean(str(v)) for k, v in attrs.items() if v is not None})
    node.text = clean(str(text)) if text is not None else None
    node.extend(c for c in children if c is not None)
    return node


def serialise(root: ET.Element) -> bytes:
    root.set("xmlns", NS)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def error_element(exc: errors.SraError) -> ET.Element:
    """The one place an error becomes XML: ``<Error code="N"><Description>..``."""
    return el("Error", None, el("Description", exc.message), code=str(exc.code))


def warnings_element(*names: str) -> ET.Element | None:
    """``<Warnings><Warning code="N"/>..`` for declared warning names (None if there are none)."""
    if not names:
        return None
    return el("Warnings", None, *(el("Warning", None, code=str(errors.warning_code(n)))
                                  for n in names))


def response(*children: ET.Element | None) -> bytes:
    return serialise(el("Response", None, *children))


def status(progress: int) -> bytes:
    return serialise(el("ProgressUpdate", str(progress)))
