"""TLS for the appliance API: its certificate and its fingerprint (pinned connections to a peer
are the shared client's, sra/nss_tls.py).

``drkit nss serve`` serves HTTPS unless ``--insecure``: with the certificate given
(``--tls-cert``/``--tls-key``) or, at first start, a self-signed one it makes in
``<data>/tls/`` (ECDSA P-256, ten years, the name and addresses it serves on). Its SHA-256
fingerprint is printed at start and shown by ``GET /appliance``; an operator pairing another
appliance with this one passes it, and the other side then talks only to a server holding this
certificate (pinning, as SSH host keys: no certificate authority involved).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_HEX = re.compile(r"^[0-9a-f]{64}$")


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the DER certificate, as ``AB:CD:...`` (32 pairs)."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


def normalize_fingerprint(text: str) -> str | None:
    """``AB:CD..``/``abcd..`` (SHA-256, 64 hex digits) in the canonical form, else None."""
    digits = text.replace(":", "").strip().lower()
    if not _HEX.match(digits):
        return None
    digits = digits.upper()
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


def ensure_certificate(data_dir: Path, name: str, hosts: list[str]) -> tuple[Path, Path]:
    """``<data>/tls/{cert,key}.pem``, made self-signed at first start (key 0600)."""
    tls_dir = data_dir / "tls"
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    _write(key, private.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    _write(cert, _self_signed(private, name, hosts).public_bytes(serialization.Encoding.PEM))
    return cert, key


def _self_signed(private: ec.EllipticCurvePrivateKey, name: str,
                 hosts: list[str]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "nss")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .sign(private, hashes.SHA256()))


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all (a temporary file renamed into place): a reader, or a restart after
    a crash, never finds an empty or partial PEM file."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
