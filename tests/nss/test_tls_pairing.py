"""HTTPS, pairing with a confirmed certificate fingerprint, and mutual unpairing, on real
appliance processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sra.nss_client import NssApiError

pytestmark = pytest.mark.live
WRONG = ":".join(["AB"] * 32)


def _served_fingerprint(app) -> str:
    """The SHA-256 of the certificate the server really presents, read off the wire."""
    pem = ssl.get_server_certificate((app.host, app.port))
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


@pytest.fixture
def tls_pair(appliance_factory):
    return appliance_factory("site-a", tls=True), appliance_factory("site-b", tls=True)


def test_the_api_is_served_over_tls_with_its_fingerprint_shown(tls_pair):
    a, _ = tls_pair
    assert a.url.startswith("https://")
    served = _served_fingerprint(a)
    assert a.client.appliance()["tls_fingerprint"] == served
    assert f"TLS certificate SHA-256 fingerprint: {served}" in a.log_file.read_text()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{a.url}/healthz", timeout=5)  # self-signed: not trusted unless pinned
    plain = a.url.replace("https://", "http://")
    with pytest.raises(requests.RequestException):
        requests.get(f"{plain}/api/v1/appliance", timeout=5,
                     headers={"Authorization": f"Bearer {a.token}"})


def test_pairing_needs_the_peers_fingerprint_and_refuses_a_wrong_one(tls_pair):
    a, b = tls_pair
    cases = [(None, "fingerprint"), ("not-hex", "fingerprint"),
             (WRONG, "peer-fingerprint-mismatch")]
    for fingerprint, expected in cases:
        with pytest.raises(NssApiError) as err:
            a.client.pair(b.url, b.token, fingerprint)
        assert err.value.status == 400
        assert expected in (err.value.code, err.value.details.get("field"))
    with pytest.raises(NssApiError) as err:
        a.client.pair(b.url.replace("https://", "http://"), b.token)
    assert (err.value.status, err.value.code) == (400, "plain-http-refused")
    assert a.client.list_peers() == [] and b.client.list_peers() == []


def test_pinned_pairing_replicates_over_tls(tls_pair):
    a, b = tls_pair
    peer = a.client.pair(b.url, b.token, b.fingerprint.replace(":", "").lower())
    assert [p["id"] for p in b.client.list_peers()] == [a.client.appliance()["id"]]
    lun = a.client.create_lun("vol", 2**20)
    a.client.write(lun["id"], 0, b"\x5a" * 2**20)
    created = a.client.create_replication(lun["id"], peer["id"])
    a.client.wait_job(created["job"]["id"])
    replica = created["replication"]["devices"][0]["remote"]
    assert b.client.read(replica, 0, 2**20) == b"\x5a" * 2**20


def test_a_wrong_peer_token_is_a_400_naming_it(appliance_factory):
    a, b = appliance_factory("lab-a"), appliance_factory("lab-b")
    with pytest.raises(NssApiError) as err:
        a.client.pair(b.url, "not-the-token")
    assert (err.value.status, err.value.code) == (400, "peer-token-rejected")
    assert "token" in err.value.message and "not-the-token" not in err.value.message


def test_unpairing_is_mutual_and_a_stale_side_recovers(appliance_factory):
    a, b = appliance_factory("lab-a"), appliance_factory("lab-b")
    peer = a.client.pair(b.url, b.token)
    resp = requests.delete(f"{a.url}/api/v1/peers/{peer['id']}", timeout=10,
                           headers={"Authorization": f"Bearer {a.token}"})
    assert resp.status_code == 204 and resp.headers["X-Peer-Notified"] == "true"
    assert a.client.list_peers() == [] and b.client.list_peers() == []
    peer = a.client.pair(b.url, b.token)
    b.stop()                                     # B cannot be told this time
    a.client._request("DELETE", f"/peers/{peer['id']}")
    b.start()
    assert len(b.client.list_peers()) == 1       # B's record is stale ...
    assert a.client.pair(b.url, b.token)["id"] == peer["id"]   # ... and re-pairing replaces it
    assert len(b.client.list_peers()) == 1


def test_the_cli_pins_the_fingerprint(tls_pair):
    a, _ = tls_pair
    env = {**os.environ, "DRKIT_NSS_URL": a.url, "DRKIT_NSS_TOKEN": a.token}
    run = [sys.executable, "-m", "orchestrator", "nss"]
    good = subprocess.run([*run, "--fingerprint", a.fingerprint, "info", "--json"], env=env,
                          capture_output=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["appliance"][0]["tls_fingerprint"] == a.fingerprint
    bad = subprocess.run([*run, "--fingerprint", WRONG, "info"], env=env, capture_output=True,
                         timeout=60)
    assert bad.returncode == 1 and bad.stdout == b""
    assert b"error: tls-untrusted:" in bad.stderr and b"not the pinned one" in bad.stderr


@pytest.mark.parametrize("tls", [True, False])
def test_sigterm_ends_the_appliance_with_an_idle_keep_alive_client(appliance_factory, tls):
    """An idle TLS client never sends close_notify: closing its connection politely held the
    shutdown for asyncio's 30 s TLS timeout. The appliance must exit on SIGTERM at once."""
    app = appliance_factory("stopping", tls=tls)
    client = app.client
    client.list_luns()                      # the connection stays open, idle, in the pool
    app.proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down, then re-raises the signal: -15, not the harness's SIGKILL after 10 s
    assert app.proc.wait(timeout=8) == -signal.SIGTERM
    assert client.url.startswith("https://" if tls else "http://")
