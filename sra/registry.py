"""The handler registry: verbs register here with :func:`command`; the dispatcher looks them up.

A handler is ``func(ctx) -> Element`` returning the body of the ``<Response>``. ``location`` is
what queryCapabilities advertises as ``ExecutionLocation``: ``source`` (the only value seen in
real SRM logs) or empty (not advertised: either site). ``array`` says whether the verb needs a
connection to the appliance. ``advertise=False`` serves a verb without listing it in
queryCapabilities: SRM calls every advertised verb and validates its answer, so a verb whose
answer no public source shows (checkTestFailoverStart, checkFailover) is served for callers that
know it but never offered to SRM.

The verb families register themselves when :mod:`sra.verbs` is imported (the dispatcher does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sra.context import Context

Handler = Callable[["Context"], Any]


@dataclass(frozen=True)
class Verb:
    name: str
    func: Handler
    location: str = ""
    array: bool = True
    advertise: bool = True


VERBS: dict[str, Verb] = {}


def command(name: str, *, location: str = "", array: bool = True,
            advertise: bool = True) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name``."""

    def register(func: Handler) -> Handler:
        VERBS[name] = Verb(name, func, location, array, advertise)
        return func

    return register


def advertised() -> list[Verb]:
    """The verbs queryCapabilities lists, in registration order."""
    return [v for v in VERBS.values() if v.advertise]
