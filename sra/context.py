"""What a handler gets: :class:`Context` (request, log, progress, array) and :class:`Progress`.

Kept apart from the dispatcher so that the registry and the verbs can name these types without
importing the dispatcher (which imports them all).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sra import errors, xmlio

if TYPE_CHECKING:
    from sra.array import ArrayClient

HEARTBEAT_SECONDS = 5.0


class Progress:
    """StatusFile writer: whole-file rewrites, values only ever increase (0-100).

    :meth:`heartbeat` keeps the file moving while the command waits for the appliance: it
    rewrites it (same or higher value, never past 95) at most every few seconds, from every
    request attempt and from a timer thread while :meth:`beating`.
    """

    def __init__(self, path: str, log: logging.Logger) -> None:
        self.path, self.log, self.last = path, log, -1
        self.written_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, percent: float, *, again: bool = False) -> None:
        value = max(0, min(100, int(percent)))
        with self._lock:
            if not self.path or value < self.last or (value == self.last and not again):
                return
            self.last, self.written_at = value, time.monotonic()
            self._write(value)

    def _write(self, value: int) -> None:
        tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(xmlio.status(value))
            os.replace(tmp, self.path)
        except OSError as exc:
            self.log.warning("cannot write StatusFile %s: %s", self.path, exc)

    def heartbeat(self) -> None:
        """Rewrite the StatusFile if it has not been written for a while (one more percent,
        up to 95), so that SRM sees a command that is still working."""
        if time.monotonic() - self.written_at >= HEARTBEAT_SECONDS:
            self(min(95, max(self.last, 0) + 1), again=True)

    def beating(self) -> _Beat:
        return _Beat(self)


class _Beat:
    """``with progress.beating():`` a daemon thread calls heartbeat() until the block ends."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.stop = progress, threading.Event()

    def __enter__(self) -> None:
        thread = threading.Thread(target=self._run, name="sra-status", daemon=True)
        thread.start()

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS / 2):
            self.progress.heartbeat()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()


@dataclass
class Context:
    """What a handler gets: the request, its parameters, a logger, progress, the array."""

    request: xmlio.Request
    log: logging.Logger
    progress: Progress
    cache: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def params(self) -> xmlio.Params:
        return self.request.params

    @cached_property
    def array(self) -> ArrayClient:
        from sra.array import client_for

        if not self.request.connections:
            raise errors.MissingConnection("the request has no <Connections>/<Connection>")
        return client_for(self.request.connections[0], self.log, self.started,
                          self.progress.heartbeat)

    @cached_property
    def quiesce(self) -> bool:
        """The Address option ``quiesce``: application-consistent sync cycles."""
        from sra.options import target

        return target(self.request.connections[0]).options.quiesce
