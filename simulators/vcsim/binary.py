"""Obtain a vcsim binary without the internet.

Order: ``$DRKIT_VCSIM`` (must be executable), else build ``main.go`` (beside this file) with
Debian's ``golang-go`` against Debian's ``golang-github-vmware-govmomi-dev`` in
GOPATH mode. The build is cached under ``~/.cache/drkit/vcsim/<hash of main.go + go version>/``
and guarded by a file lock, so parallel test workers build once. Missing packages are installed
with apt when running as root; otherwise :class:`VcsimBinaryError` names them.

A stock ``vcsim`` on PATH is deliberately *not* used: drkit's main.go gives every host its own
FC/iSCSI initiators (stock vcsim hosts all share the same WWPNs), takes the password from the
environment (not argv, visible in ``ps``) and announces its URL as ``DRKIT_VCSIM_URL=``.
``DRKIT_VCSIM`` may point at a binary built from the same main.go.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from simulators.vcsim.errors import VcsimBinaryError

PACKAGES = ("golang-go", "golang-github-vmware-govmomi-dev")
GOPATH = Path("/usr/share/gocode")
GOVMOMI_SIMULATOR = GOPATH / "src/github.com/vmware/govmomi/simulator"
MAIN_GO = Path(__file__).with_name("main.go")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drkit" / "vcsim"


def find_vcsim(build: bool = True) -> Path:
    """Return a vcsim binary: ``$DRKIT_VCSIM`` or drkit's cached build of main.go."""
    env = os.environ.get("DRKIT_VCSIM")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise VcsimBinaryError(f"DRKIT_VCSIM={env} is not an executable file")
        return path
    if not build:
        raise VcsimBinaryError("no vcsim binary: set DRKIT_VCSIM or build one (find_vcsim())")
    return build_vcsim()


def build_vcsim() -> Path:
    """Build (or reuse the cached build of) drkit's vcsim; return the binary's path."""
    _ensure_packages()
    target = cache_root() / _build_key() / "vcsim"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            _go_build(target)
    return target


def _build_key() -> str:
    digest = hashlib.sha256(MAIN_GO.read_bytes())
    digest.update(_go_version().encode())
    return digest.hexdigest()[:16]


def _go_version() -> str:
    return subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout


def _go_build(target: Path) -> None:
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    env = dict(os.environ, GO111MODULE="off", GOPATH=str(GOPATH), GOFLAGS="",
               GOCACHE=str(cache_root() / "gocache"))
    proc = subprocess.run(["go", "build", "-o", str(tmp), str(MAIN_GO)], env=env,
                          capture_output=True, text=True, cwd=MAIN_GO.parent)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise VcsimBinaryError(f"go build of {MAIN_GO} failed:\n{proc.stderr[-2000:]}")
    os.replace(tmp, target)


def missing_packages() -> list[str]:
    """Debian packages the build needs that are not installed."""
    missing = []
    if shutil.which("go") is None:
        missing.append("golang-go")
    if not GOVMOMI_SIMULATOR.is_dir():
        missing.append("golang-github-vmware-govmomi-dev")
    return missing


def _ensure_packages() -> None:
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise VcsimBinaryError(
            "cannot build vcsim: install the Debian packages " + " ".join(missing)
            + " (apt-get install " + " ".join(missing) + ") or set DRKIT_VCSIM to a vcsim binary")
    _apt_install(missing)
    if missing_packages():
        raise VcsimBinaryError("apt-get did not provide " + " ".join(missing_packages()))


def _apt_install(packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise VcsimBinaryError(f"apt-get install {' '.join(packages)} failed: "
                                   f"{proc.stderr[-1000:]}")


def vcsim_binary() -> Path:
    """The vcsim binary site.py runs (same as :func:`find_vcsim`)."""
    return find_vcsim()
