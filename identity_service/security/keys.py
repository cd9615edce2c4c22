"""Signing keys: PEM files under ``keys/`` (0600, never committed), loaded once per process.

File name is ``<kid>.pem``. The newest key signs; every key in the directory is published in
JWKS so tokens signed before a rotation still verify.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SUPPORTED_ALGORITHMS = ("RS256", "ES256")


class UnusableKey(Exception):
    """A key file is unusable (wrong type, unreadable, too permissive)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    created: float

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


@dataclass(frozen=True)
class KeySet:
    """All keys of this process; ``active`` signs, ``by_kid`` verifies, ``jwks_json`` is precomputed."""

    keys: tuple[SigningKey, ...]
    jwks_json: bytes

    @property
    def active(self) -> SigningKey:
        return self.keys[0]

    def active_for(self, alg: str) -> SigningKey:
        for key in self.keys:
            if key.alg == alg:
                return key
        raise LookupError(f"no signing key for {alg}")

    def by_kid(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def generate_key(keys_dir: Path, alg: str = "RS256") -> SigningKey:
    """Create a new key file (0600) and return it. The caller decides when it starts signing."""
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg}; choose one of {', '.join(SUPPORTED_ALGORITHMS)}")
    keys_dir.mkdir(parents=True, exist_ok=True)
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
    kid = f"{alg.lower()}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = keys_dir / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return SigningKey(kid=kid, alg=alg, private_key=private_key, created=path.stat().st_mtime)


def _load_key(path: Path) -> SigningKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise UnusableKey(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if isinstance(loaded, rsa.RSAPrivateKey):
        if loaded.key_size < 2048:
            raise UnusableKey(f"{path}: RSA keys must be at least 2048 bits")
        alg = "RS256"
    elif isinstance(loaded, ec.EllipticCurvePrivateKey) and isinstance(loaded.curve, ec.SECP256R1):
        alg = "ES256"
    else:
        raise UnusableKey(f"{path}: only RSA (RS256) and P-256 (ES256) keys are supported")
    return SigningKey(kid=path.stem, alg=alg, private_key=loaded, created=path.stat().st_mtime)


def load_keys(keys_dir: Path) -> KeySet:
    """Load every ``*.pem`` key, newest first. Raises if there is none."""
    paths = sorted(keys_dir.glob("*.pem"))
    keys = sorted((_load_key(p) for p in paths), key=lambda k: (k.created, k.kid), reverse=True)
    if not keys:
        raise UnusableKey(f"no signing key in {keys_dir}; run `identity-service keys generate`")
    # The newest RS256 key leads: OIDC requires RS256 support and it is the default for clients.
    keys.sort(key=lambda k: k.alg != "RS256")
    jwks = {"keys": [k.public_jwk for k in keys]}
    return KeySet(keys=tuple(keys), jwks_json=json.dumps(jwks, separators=(",", ":")).encode())


def ensure_development_key(keys_dir: Path) -> KeySet:
    """Embedded default: make an RS256 key on first start, then load whatever is there."""
    if not any(keys_dir.glob("*.pem")):
        generate_key(keys_dir, "RS256")
    return load_keys(keys_dir)
