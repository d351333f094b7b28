"""File modes of an appliance's data directory: the directory 0700, every file in it 0600.

New files get these modes where they are created (``os.open(..., 0o600)``, SQLite copies the
database's mode to ``-wal``/``-shm``, and ``drkit nss serve`` runs with umask 077 for the rest);
``tighten`` brings a directory written by an older version (0755/0644) to the same modes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def tighten(root: Path) -> int:
    """Set 0700 on ``root`` and every directory below it, 0600 on every file; returns how many
    modes changed. Symbolic links are left alone (their modes mean nothing)."""
    changed = _set(root, DIR_MODE)
    for parent, dirs, files in os.walk(root):
        for name in dirs:
            changed += _set(Path(parent) / name, DIR_MODE)
        for name in files:
            changed += _set(Path(parent) / name, FILE_MODE)
    return changed


def _set(path: Path, mode: int) -> int:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
        return 0
    path.chmod(mode)
    return 1
