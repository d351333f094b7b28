"""The client's TLS options against a real TLS endpoint on loopback.

The appliance does not serve HTTPS yet, so the endpoint here is a plain HTTPS server that
answers every request ``404 not-found`` in the appliance's error shape: reaching that answer
proves the TLS handshake was accepted; what the appliance would say is not simulated. Its
certificate is signed by a throw-away CA made for the test.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sra import errors
from sra.nss_client import NssApiError, NssClient
from tests.sra.sra_runner import command, connection, run_sra

CODE = {d.name: d.code for d in errors.ERRORS}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class TlsEndpoint:
    url: str
    ca_file: Path
    fingerprint: str  # SHA-256 of the server certificate, hex


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"error": {"code": "not-found", "message": "nothing here",
                                     "details": {}}}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEndpoint]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("drkit test CA", ca_key, "drkit test CA", ca_key, ca=True)
    cert = _cert("127.0.0.1", key, "drkit test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    yield TlsEndpoint(f"https://127.0.0.1:{server.server_port}", folder / "ca.pem", digest)
    server.shutdown()


def _outcome(client: NssClient) -> tuple[int, str]:
    with pytest.raises(NssApiError) as err:
        client.appliance()
    return err.value.status, err.value.code


def colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()


@pytest.mark.parametrize("verify, pin, expected", [
    ("ca", "", (404, "not-found")),                 # verification on, the CA file trusts it
    ("system", "", (0, "tls-untrusted")),           # verification on, system store: unknown CA
    ("off", "", (404, "not-found")),                # verification off
    ("off", "right", (404, "not-found")),           # off, but pinned: the pin holds
    ("off", "right-colons", (404, "not-found")),
    ("off", "wrong", (0, "tls-untrusted")),         # off, pinned to another certificate
    ("ca", "wrong", (0, "tls-untrusted")),          # verified, but not the pinned certificate
    ("system", "right", (404, "not-found")),        # a pin replaces the CA check (self-signed)
])
def test_tls_options(endpoint: TlsEndpoint, verify: str, pin: str,
                     expected: tuple[int, str]) -> None:
    fingerprint = {"": "", "right": endpoint.fingerprint, "wrong": "ab" * 32,
                   "right-colons": colons(endpoint.fingerprint)}[pin]
    client = NssClient(endpoint.url, "token", 5.0, fingerprint=fingerprint,
                       verify={"ca": str(endpoint.ca_file), "system": True, "off": False}[verify])
    assert _outcome(client) == expected


def test_a_tls_failure_is_not_retried(endpoint: TlsEndpoint) -> None:
    attempts: list[int] = []
    client = NssClient(endpoint.url, "token", 5.0, on_attempt=lambda: attempts.append(1))
    assert _outcome(client) == (0, "tls-untrusted")
    assert len(attempts) == 1


@pytest.mark.parametrize("query, code", [
    ("?ca_file={ca}", "ArrayNotFound"),               # handshake accepted: the 404 came back
    ("", "TlsUntrusted"),
    ("?verify_tls=false", "ArrayNotFound"),
    ("?verify_tls=false&fingerprint={fp}", "ArrayNotFound"),
    ("?verify_tls=false&fingerprint=" + "00" * 32, "TlsUntrusted"),
])
def test_the_sra_address_carries_the_tls_options(endpoint: TlsEndpoint, tmp_path: Path,
                                                 query: str, code: str) -> None:
    url = endpoint.url + "/" + query.format(ca=endpoint.ca_file, fp=endpoint.fingerprint)
    conn = connection("URL", "token-1234567890").replace(
        "URL", url.replace("&", "&amp;"))
    run = run_sra(command("discoverArrays", "", connection=conn), tmp_path)
    assert run.error_codes() == [CODE[code]]
    assert run.stderr == ""  # no InsecureRequestWarning: SRM shows stderr as an error
