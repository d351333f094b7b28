"""The dispatcher: one request in, one Response out.

It owns everything that is the same for every verb, so handlers stay small: parsing, unknown
commands, the array connection and ``ArrayId`` check, the per-command log file (LogLevel,
secrets masked), StatusFile progress, and the one place where errors become XML
(:func:`error_element`). Any exception that is not an :class:`~sra.errors.SraError` is a bug: it
is logged with its traceback to the log file and answered as ``InternalError``, never shown.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sra import errors, xmlio
from sra.registry import Verb, load

if TYPE_CHECKING:
    from sra.array import ArrayClient

LEVELS = {"verbose": logging.DEBUG, "trivia": logging.DEBUG, "debug": logging.DEBUG,
          "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
MASK = "********"


@dataclass(frozen=True)
class Outcome:
    """What the process does: write ``body`` to ``output_file``, exit with ``exit_code``."""

    output_file: str
    body: bytes
    exit_code: int
    stderr: str = ""


class Progress:
    """StatusFile writer: whole-file rewrites, values only ever increase (0-100)."""

    def __init__(self, path: str, log: logging.Logger) -> None:
        self.path, self.log, self.last = path, log, -1

    def __call__(self, percent: float) -> None:
        value = max(0, min(100, int(percent)))
        if not self.path or value <= self.last:
            return
        self.last = value
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(xmlio.status(value))
            os.replace(tmp, self.path)
        except OSError as exc:
            self.log.warning("cannot write StatusFile %s: %s", self.path, exc)


class _MaskSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        record.msg, record.args = text, None
        return True


@dataclass
class Context:
    """What a handler gets: the request, its parameters, a logger, progress, the array."""

    request: xmlio.Request
    log: logging.Logger
    progress: Progress
    verb: Verb | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> xmlio.Params:
        return self.request.params

    @cached_property
    def array(self) -> ArrayClient:
        from sra.array import client_for

        if not self.request.connections:
            raise errors.MissingConnection("the request has no <Connections>/<Connection>")
        return client_for(self.request.connections[0], self.log)


def _log_path(request: xmlio.Request) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.name)[:64]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return os.path.join(request.log_directory, f"sra_{name}_{stamp}_{os.getpid()}.log")


def open_log(request: xmlio.Request) -> logging.Logger:
    """A logger writing to this command's own file in LogDirectory (if that directory exists)."""
    log = logging.getLogger(f"sra.command.{os.getpid()}.{id(request)}")
    log.propagate = False
    log.setLevel(LEVELS.get(request.log_level, logging.INFO))
    log.addHandler(logging.NullHandler())  # no log directory: silence, never stderr
    if request.log_directory and os.path.isdir(request.log_directory):
        try:
            handler = logging.FileHandler(_log_path(request), encoding="utf-8")
        except OSError:
            return log
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                      "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        handler.addFilter(_MaskSecrets([c.password for c in request.connections]))
        log.addHandler(handler)
    return log


def close_log(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


def error_element(exc: errors.SraError) -> xmlio.Element:
    """The one place an error becomes XML: ``<Error code="N"><Description>..``."""
    return xmlio.el("Error", None, xmlio.el("Description", exc.message), code=str(exc.code))


def warnings_element(*names: str) -> xmlio.Element | None:
    if not names:
        return None
    return xmlio.el("Warnings", None, *(xmlio.el("Warning", None, code=str(
        errors.warning_code(n))) for n in names))


def _verb(ctx: Context) -> Verb:
    verb = load().get(ctx.request.name)
    if verb is None:
        raise errors.UnknownCommand(f"unknown command {ctx.request.name!r}")
    return verb


def _check_array(ctx: Context, verb: Verb) -> None:
    """Connection and ArrayId checks every array verb shares."""
    if not verb.array:
        return
    wanted = ctx.params.array_id
    if verb.name != "discoverArrays" and not wanted:
        raise errors.MissingParameter(f"{verb.name}: ArrayId is missing")
    ctx.progress(0)
    appliance = ctx.array.appliance()
    ctx.cache["appliance"] = appliance
    if wanted and wanted != appliance["id"]:
        raise errors.ArrayIdMismatch(
            f"ArrayId {wanted!r} is not this appliance ({appliance['id']!r})")


def execute(ctx: Context) -> bytes:
    """Run the handler; every failure becomes a Response with a declared code."""
    try:
        verb = ctx.verb = _verb(ctx)
        ctx.log.info("command %s (handler %s)", ctx.request.name, verb.func.__name__)
        ctx.log.debug("parameters: %r", ctx.params)
        _check_array(ctx, verb)
        body = verb.func(ctx)
        ctx.progress(100)
        answer = xmlio.response(*(body if isinstance(body, tuple | list) else (body,)))
        ctx.log.debug("response:\n%s", answer.decode())
        return answer
    except errors.SraError as exc:
        ctx.log.error("%s (code %d): %s", exc.name, exc.code, exc.message)
        return xmlio.response(error_element(exc))
    except Exception:
        ctx.log.exception("internal error")
        return xmlio.response(error_element(errors.InternalError()))


def respond(raw: bytes) -> Outcome:
    """The in-process entry point: request bytes -> (OutputFile, Response bytes, exit code)."""
    try:
        request = xmlio.parse_request(raw)
    except errors.SraError as exc:
        output = xmlio.salvage_output_file(raw)
        body = xmlio.response(error_element(exc))
        if not output:
            return Outcome("", body, 2, f"sra: no OutputFile to answer in: {exc.message}")
        return Outcome(output, body, 0)
    log = open_log(request)
    try:
        ctx = Context(request, log, Progress(request.status_file, log))
        return Outcome(request.output_file, execute(ctx), 0)
    finally:
        close_log(log)
