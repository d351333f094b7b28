"""The real command.pl against an appliance serving HTTPS (its self-signed certificate, made at
first start): verification on (trusting that certificate as the CA file), verification off, the
certificate pinned by fingerprint, and a wrong pin refused as TlsUntrusted (3010)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sra import errors
from tests.sra.sra_runner import NS, command, connection, run_sra

pytestmark = pytest.mark.live
CODE = {d.name: d.code for d in errors.ERRORS}
WRONG = "ab" * 32


@pytest.fixture
def tls_appliance(appliance_factory: Callable):
    proc = appliance_factory("nss-tls", tls=True)
    assert proc.url.startswith("https://") and proc.fingerprint
    return proc


def _discover(app, tmp_path: Path, **options: str):
    request = command("discoverArrays", "<DiscoverArraysParameters/>",
                      connection=connection(app.url, app.token, **options))
    return run_sra(request, tmp_path)


@pytest.mark.parametrize("options", [
    "ca_file", "verify_tls=false", "fingerprint", "verify_tls=false&fingerprint"])
def test_the_sra_speaks_https_to_the_appliance(tls_appliance, tmp_path: Path, options: str):
    values = {"ca_file": str(tls_appliance.data_dir / "tls" / "cert.pem"),
              "verify_tls": "false", "fingerprint": tls_appliance.fingerprint}
    given = {name.split("=")[0]: values[name.split("=")[0]] for name in options.split("&")}
    run = _discover(tls_appliance, tmp_path, **given)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    array = run.root.find(f"{{{NS}}}Arrays/{{{NS}}}Array")
    assert array is not None and array.get("id") == tls_appliance.client.appliance()["id"]


@pytest.mark.parametrize("options", [{}, {"fingerprint": WRONG}])
def test_an_untrusted_certificate_is_refused_by_name(tls_appliance, tmp_path: Path, options):
    """Verification on with the system store (which does not know the appliance's self-signed
    certificate), or a pin of another certificate: TlsUntrusted, not retried as unreachable."""
    run = _discover(tls_appliance, tmp_path, **options)
    assert run.returncode == 0 and run.error_codes() == [CODE["TlsUntrusted"]]
    assert tls_appliance.token not in run.response.decode()
