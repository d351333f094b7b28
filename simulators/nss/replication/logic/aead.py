"""AES-256-GCM for delta parts: the pair key, sealing a part piece by piece, opening it.

A sealed part is ``aad | nonce | ciphertext | tag``: whatever comes before the nonce (the
frame and the header) is the associated data, so it is authenticated without being hidden.
Sealing encrypts the pieces (index, extents' data) straight into the message, which gives the
same bytes as one-shot AES-GCM over the pieces joined, without joining them.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DeltaAuthError, PairKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def new_pair_key() -> bytes:
    """A fresh 256-bit replication key for a pair of appliances."""
    return AESGCM.generate_key(bit_length=256)


def check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise PairKeyError("pair key must be 32 bytes (AES-256)", field="key")
    return bytes(key)


def seal(key: bytes, aad: bytes, pieces: list[bytes | memoryview]) -> bytearray:
    """``aad | nonce | AES-GCM(pieces) | tag`` in one buffer."""
    nonce = os.urandom(NONCE_BYTES)
    enc = Cipher(algorithms.AES(check_key(key)), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    head = len(aad) + NONCE_BYTES
    out = bytearray(head + sum(len(p) for p in pieces) + TAG_BYTES)
    out[: len(aad)], out[len(aad) : head] = aad, nonce
    view, at = memoryview(out), head
    for piece in pieces:
        at += enc.update_into(piece, view[at:])
    enc.finalize()
    view[at : at + TAG_BYTES] = enc.tag
    return out


def open_sealed(key: bytes, blob: bytes | bytearray, aad: bytes, replication: str) -> bytes:
    """The plaintext after ``aad`` and the nonce, authenticated (decrypted from a view of
    ``blob``: no copy of the ciphertext)."""
    aead = AESGCM(check_key(key))
    at = len(aad) + NONCE_BYTES
    try:
        return aead.decrypt(bytes(blob[len(aad) : at]), memoryview(blob)[at:], aad)
    except InvalidTag:
        raise DeltaAuthError("delta failed authentication (tampered, or another pair key)",
                             replication=replication) from None
