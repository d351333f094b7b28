"""Where the two-site lab describes itself (``lab.json``), for every command that looks for it.

``drkit sim up`` writes the description (simulators/vcsim/labstate.py); ``drkit nss --site a``
reads an appliance's URL and token file from it, so nobody has to copy them by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LAB_FILE = "lab.json"


class NoLab(Exception):
    """No lab is described where one was looked for (names the file)."""


def default_dir() -> Path:
    """``$DRKIT_LAB_DIR``, else ``$XDG_STATE_HOME/drkit/lab`` (``~/.local/state/drkit/lab``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(os.environ.get("DRKIT_LAB_DIR") or Path(base) / "drkit" / "lab")


def appliance_of(site: str, root: Path | None = None) -> dict[str, Any]:
    """Lab site ``site``'s appliance: ``{name, url, token_file, id, ...}``."""
    path = (root or default_dir()) / LAB_FILE
    try:
        lab = json.loads(path.read_text())
    except FileNotFoundError:
        raise NoLab(f"no lab described in {path} (`drkit sim up` starts one)") from None
    sites = lab.get("sites", {})
    if site not in sites:
        raise NoLab(f"the lab in {path} has no site {site!r} (sites: {', '.join(sorted(sites))})")
    if lab.get("state") == "down":
        raise NoLab(f"the lab in {path} is down (`drkit sim up` brings it back)")
    return sites[site]["appliance"]
