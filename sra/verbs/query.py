"""The query* verbs: what the adapter is and what it can do. None of them touches the array."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sra import errors
from sra.registry import Verb, advertised, command
from sra.xmlio import Element, el

if TYPE_CHECKING:
    from sra.context import Context

VERSION = "0.1.0"
UUID = "5c0c3d0e-6d72-4b69-8a53-7352412d6b69"
PROTOCOLS = ("FC", "iSCSI")

# Every user-visible string, by stringId; queryStrings serves this table (locale "en").
STRINGS: dict[str, str] = {
    "adapterName": "drkit NSS Storage Replication Adapter",
    "vendorName": "drkit",
    "modelName": "NSS Appliance",
    "replicationName": "drkit MicroScan replication",
    "connectionTitle": "NSS appliance",
    "connectionHint": "The NSS appliance that holds the devices of this site.",
    "addressTitle": "Appliance address",
    "addressHint": ("host[:port] or https://host:port (default https, port 443); options "
                    "after ?, e.g. https://nss-a:8443/?verify_tls=false&quiesce=true"),
    "usernameTitle": "User name",
    "usernameHint": "Any name; it is only written to the SRA log.",
    "passwordTitle": "API token",
    "passwordHint": "The appliance's API token (the content of its token file).",
}
STRINGS.update({f"Description{d.code}": d.description for d in (*errors.ERRORS, *errors.WARNINGS)})
STRINGS.update({f"FixHint{d.code}": d.fix_hint for d in (*errors.ERRORS, *errors.WARNINGS)})
LOCALES = ("en",)


def text(tag: str, string_id: str) -> Element:
    """An element whose text comes from :data:`STRINGS`, tagged with its stringId."""
    return el(tag, STRINGS[string_id], stringId=string_id)


def titled(tag: str, stem: str, **attrs: str) -> Element:
    return el(tag, None, text("Title", stem + "Title"), text("Hint", stem + "Hint"), **attrs)


@command("queryInfo", array=False)
def query_info(ctx: Context) -> Element:
    return el("AdapterInfo", None, text("Name", "adapterName"), el("Version", VERSION),
              text("Vendor", "vendorName"), el("Uuid", UUID))


def _command(verb: Verb) -> Element:
    locales = (el("Locales", None, *(el("Locale", None, id=x) for x in LOCALES))
               if verb.name == "queryStrings" else None)
    location = el("ExecutionLocation", verb.location) if verb.location else None
    return el("Command", None, locales, location, name=verb.name)


@command("queryCapabilities", array=False)
def query_capabilities(ctx: Context) -> Element:
    """``DynamicAccessRestriction``: SRM sends the recovery hosts' initiators (AccessGroups) with
    testFailoverStart, failover and reverseReplication, and the SRA presents devices to exactly
    those hosts (the open-source SRA's meaning: it maps to the hosts of those initiators)."""
    software = el("ReplicationSoftware", None, text("Name", "replicationName"),
                  el("Version", VERSION))
    model = el("ArrayModel", None, text("Name", "modelName"), text("Vendor", "vendorName"))
    features = el("Features", None, el("ConsistencyGroups"), el("DynamicAccessRestriction"),
                  el("DeviceIdentification", "wwn"),
                  el("Protocols", None, *(el("Protocol", p) for p in PROTOCOLS)))
    commands = el("Commands", None, *(_command(v) for v in advertised()))
    return el("AdapterCapabilities", None, el("ReplicationSoftwares", None, software),
              el("ArrayModels", None, model), features, commands)


@command("queryConnectionParameters", array=False)
def query_connection_parameters(ctx: Context) -> Element:
    connection = el(
        "Connection", None, text("Title", "connectionTitle"), text("Hint", "connectionHint"),
        el("Addresses", None, titled("Address", "address", id="address")),
        titled("Username", "username"), titled("Password", "password"), id="nss")
    return el("AdapterConnectionParameters", None, connection)


def _definition(tag: str, d: errors.Definition) -> Element:
    return el(tag, None, text("Description", f"Description{d.code}"),
              text("FixHint", f"FixHint{d.code}"), code=str(d.code))


@command("queryErrorDefinitions", array=False)
def query_error_definitions(ctx: Context) -> tuple[Element, Element]:
    return (el("ErrorDefinitions", None,
               *(_definition("ErrorDefinition", d) for d in errors.ERRORS)),
            el("WarningDefinitions", None,
               *(_definition("WarningDefinition", d) for d in errors.WARNINGS)))


def _locale(requested: str) -> str:
    """en, en_US, en-GB ... all map to en; empty means en."""
    base = requested.replace("-", "_").split("_")[0].lower() or "en"
    if base not in LOCALES:
        raise errors.UnknownLocale(f"locale {requested!r} is not available (have: en)")
    return base


@command("queryStrings", array=False)
def query_strings(ctx: Context) -> Element:
    locale = _locale(ctx.params.locale)
    return el("Strings", None, *(el("String", value, id=key) for key, value in STRINGS.items()),
              locale=locale)
