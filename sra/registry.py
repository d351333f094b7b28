"""The handler registry: verbs register here with :func:`command`; the dispatcher looks them up.

A handler is ``func(ctx) -> Element`` returning the body of the ``<Response>``. ``location`` is
what queryCapabilities advertises as ``ExecutionLocation``: ``source`` (the only value seen in
real SRM logs) or empty (not advertised: either site). ``array`` says whether the verb needs a
connection to the appliance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sra.dispatch import Context

Handler = Callable[["Context"], Any]


@dataclass(frozen=True)
class Verb:
    name: str
    func: Handler
    location: str = ""
    array: bool = True
    alias_of: str = ""


VERBS: dict[str, Verb] = {}


def command(name: str, *, location: str = "", array: bool = True,
            aliases: tuple[str, ...] = (), legacy_of: str = "") -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name`` (and of its 1.x aliases).

    ``legacy_of`` marks a 1.x verb with its own handler: served, but not advertised.
    """

    def register(func: Handler) -> Handler:
        VERBS[name] = Verb(name, func, location, array, alias_of=legacy_of)
        for alias in aliases:
            VERBS[alias] = Verb(alias, func, location, array, alias_of=name)
        return func

    return register


def load() -> dict[str, Verb]:
    """Import every verb module (they register themselves) and return the registry."""
    import sra.verbs  # noqa: F401  (imports the verb families)

    return VERBS


def advertised() -> list[Verb]:
    """The verbs queryCapabilities lists: every v2 name, not the 1.x aliases."""
    return [v for v in load().values() if not v.alias_of]
