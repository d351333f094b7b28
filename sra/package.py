"""Build the SRA as SRM installs it: a folder, a zip of it, or a container build context.

SRM 5+ (Windows) runs ``storage\\sra\\<name>\\command.pl`` with command.pl at the SRA folder's
root; the SRM appliance runs each SRA as a container image with ``/srm/sra/command.pl``. The
folder holds everything the SRA needs besides a Python 3.11+ interpreter and Perl::

    <name>/
    ├── command.pl        the entry point (runs ``python -S -m sra`` with only this folder and
    │                     lib/ on its path)
    ├── sra/              this package (no tests, no caches)
    ├── lib/              requests, urllib3, idna, certifi, charset_normalizer, tenacity,
    │                     defusedxml, copied from the building interpreter
    └── README.md         the SRA's README

The container context adds a Dockerfile (``FROM python:<same major.minor>-slim``, since lib/
may hold compiled modules of the building interpreter) that copies the folder to ``/srm/sra``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from sra import errors

NAME = "drkit-nss-sra"
DEPENDENCIES = ("requests", "urllib3", "idna", "certifi", "charset_normalizer", "tenacity",
                "defusedxml")
FORMATS = ("folder", "zip", "container")
HERE = Path(__file__).resolve().parent
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "cli.py", "package.py")


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise errors.InternalError(f"dependency {module!r} is not installed as a package")
    return Path(next(iter(spec.submodule_search_locations)))


def build_folder(dest: Path) -> Path:
    """``dest``/command.pl, sra/, lib/, README.md; ``dest`` must not exist yet."""
    dest.mkdir(parents=True)
    shutil.copytree(HERE, dest / "sra", ignore=NOT_SHIPPED)
    shutil.copy2(HERE / "command.pl", dest / "command.pl")
    shutil.copy2(HERE / "README.md", dest / "README.md")
    for module in DEPENDENCIES:
        shutil.copytree(_package_dir(module), dest / "lib" / module, ignore=SKIP)
    return dest


def build_zip(folder: Path, archive: Path) -> Path:
    """``archive`` holding ``<folder name>/...`` (command.pl at the SRA folder's root)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, Path(folder.name) / path.relative_to(folder))
    return archive


DOCKERFILE = """\
# drkit NSS SRA for the SRM appliance: SRM runs /srm/sra/command.pl inside this image.
# Build: docker build -t drkit-nss-sra:{version} .
FROM python:{python}-slim
# perl-base (in the slim image) has File::Basename, File::Spec and Cwd, all command.pl uses.
COPY {name}/ /srm/sra/
RUN python3 -S -c "import sys; sys.path[:0] = ['/srm/sra', '/srm/sra/lib']; import sra.dispatch"
WORKDIR /srm/sra
ENV DRKIT_PYTHON=/usr/local/bin/python3
CMD ["perl", "/srm/sra/command.pl"]
"""


def build_container(dest: Path, version: str) -> Path:
    """A Docker build context: ``dest``/Dockerfile, .dockerignore and the SRA folder."""
    build_folder(dest / NAME)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    (dest / "Dockerfile").write_text(DOCKERFILE.format(version=version, python=python,
                                                       name=NAME))
    (dest / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    return dest


PRODUCTS = {"folder": NAME, "zip": f"{NAME}.zip", "container": f"{NAME}-container"}


def build(fmt: str, out: Path, version: str) -> Path:
    """Build ``fmt`` in the directory ``out``; answer the path made. Nothing is overwritten."""
    if fmt not in FORMATS:
        raise errors.InvalidParameter(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    product = out / PRODUCTS[fmt]
    if product.exists():
        raise errors.InvalidParameter(f"{product} already exists: remove it or choose --out")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "container":
        return build_container(product, version)
    if fmt == "folder":
        return build_folder(product)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        return build_zip(build_folder(Path(tmp) / NAME), product)
