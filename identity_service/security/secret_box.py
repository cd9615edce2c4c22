"""Authenticated encryption of small secrets at rest (AES-256-GCM) and keyed hashes of look-up secrets.

TOTP shared secrets must be recoverable by the verifier, so they cannot be hashed like passwords
(NIST SP 800-63B §5.1.4.2: "shall use approved encryption ... to protect stored secrets"). Each value
is encrypted under a key derived from ``IDENTITY_TOTP_KEY`` with a fresh 96-bit nonce, and bound to
its owner (the account id) as associated data, so a ciphertext copied onto another row fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit nonces, random


class SecretUnreadable(Exception):
    """The ciphertext was tampered with, moved to another owner, or made under another key."""


def _derive(master: str, purpose: bytes) -> bytes:
    # RFC 5869: one configured secret, independent keys per use (encryption, recovery-code pepper).
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"identity_service/" + purpose).derive(
        master.encode("utf-8"))


class SecretBox:
    """Encrypts and decrypts short secrets; every value is tied to an owner id (AAD)."""

    def __init__(self, master_key: str) -> None:
        if len(master_key) < 32:
            raise ValueError("the TOTP key must be at least 32 characters of random data")
        self._aead = AESGCM(_derive(master_key, b"totp/v1"))
        self._pepper = _derive(master_key, b"recovery-codes/v1")

    def seal(self, plaintext: str, owner: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), owner.encode("utf-8"))
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str, owner: str) -> str:
        version, _, body = token.partition(".")
        if version != _VERSION:
            raise SecretUnreadable("unknown ciphertext version")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plaintext = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], owner.encode("utf-8"))
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable("the secret cannot be decrypted") from exc
        return plaintext.decode("utf-8")

    def keyed_hash(self, value: str, owner: str) -> str:
        """HMAC-SHA256 (hex, 64 chars): a stolen database alone cannot test guesses of a look-up secret."""
        return hmac.new(self._pepper, f"{owner}|{value}".encode(), hashlib.sha256).hexdigest()
