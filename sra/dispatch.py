"""The dispatcher: one request in, one Response out.

It owns everything that is the same for every verb, so handlers stay small: parsing, unknown
commands, the array connection and ``ArrayId`` check, the per-command log file (LogLevel,
secrets masked), StatusFile progress and its heartbeat. Errors become XML in one place,
:func:`sra.xmlio.error_element`. Any exception that is not an :class:`~sra.errors.SraError` is a
bug: it is logged with its traceback to the log file and answered as ``InternalError``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sra.verbs  # noqa: F401  (importing the verb families registers every handler)
from sra import errors, xmlio
from sra.context import Context, Progress
from sra.options import secrets
from sra.registry import VERBS, Verb
from sra.xmlio import error_element

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


def _log_path(request: xmlio.Request) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.name)[:64]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return os.path.join(request.log_directory, f"sra_{name}_{stamp}_{os.getpid()}.log")


def _log_directory(path: str) -> bool:
    """LogDirectory exists, or is made (as the open-source SRA does); False if it cannot be."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(path)


def open_log(request: xmlio.Request) -> logging.Logger:
    """A logger writing to this command's own file in LogDirectory (created when missing)."""
    log = logging.getLogger(f"sra.command.{os.getpid()}.{id(request)}")
    log.propagate = False
    log.setLevel(LEVELS.get(request.log_level, logging.INFO))
    log.addHandler(logging.NullHandler())  # no log directory: silence, never stderr
    if request.log_directory and _log_directory(request.log_directory):
        try:
            handler = logging.FileHandler(_log_path(request), encoding="utf-8")
        except OSError:
            return log
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                      "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        handler.addFilter(_MaskSecrets([s for c in request.connections for s in secrets(c)]))
        log.addHandler(handler)
    return log


def close_log(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


def _verb(ctx: Context) -> Verb:
    verb = VERBS.get(ctx.request.name)
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
        verb = _verb(ctx)
        ctx.log.info("command %s (handler %s)", ctx.request.name, verb.func.__name__)
        ctx.log.debug("parameters: %r", ctx.params)
        with ctx.progress.beating():
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


def _scrub(body: bytes, request: xmlio.Request) -> bytes:
    """No secret of the request reaches the Response, whatever echoed it."""
    for secret in (s for c in request.connections for s in secrets(c) if len(s) >= 8):
        body = body.replace(secret.encode(), MASK.encode())
    return body


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
        return Outcome(request.output_file, _scrub(execute(ctx), request), 0)
    finally:
        close_log(log)
