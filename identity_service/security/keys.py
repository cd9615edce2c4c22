"""Signing keys: PEM files under ``keys/`` (0600, never committed) with a small JSON sidecar.

``<kid>.pem`` is the private key; ``<kid>.json`` says when it may start signing (``not_before``)
and until when it stays published (``unpublish_after``). Rotation (``identity-service keys
rotate``) publishes the next key in JWKS before it signs, and keeps the old key published until
every token it signed has expired. Processes reload the directory every few seconds, so every
process on every machine switches at the same instant without a restart.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SUPPORTED_ALGORITHMS = ("RS256", "ES256")


class UnusableKey(Exception):
    """A key file is unusable (wrong type, unreadable, too permissive) or none is present."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    not_before: float
    unpublish_after: float | None = None

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """Derived once per key: verification is on hot paths (userinfo, introspection)."""
        return self.private_key.public_key()

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.public_key))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


@dataclass(frozen=True)
class KeySet:
    """Keys as loaded at one moment; ``jwks_json`` is precomputed."""

    keys: tuple[SigningKey, ...]
    jwks_json: bytes

    def signing_key(self, alg: str, now: float | None = None) -> SigningKey:
        """The newest key of ``alg`` whose ``not_before`` has passed."""
        moment = time.time() if now is None else now
        usable = [k for k in self.keys if k.alg == alg and k.not_before <= moment]
        if not usable:
            raise LookupError(f"no signing key for {alg}")
        return max(usable, key=lambda k: (k.not_before, k.kid))

    def active_for(self, alg: str) -> SigningKey:
        return self.signing_key(alg)

    @property
    def active(self) -> SigningKey:
        return self.signing_key("RS256")

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(a for a in SUPPORTED_ALGORITHMS if any(k.alg == a for k in self.keys))

    def by_kid(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_metadata(path: Path, metadata: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metadata, indent=1))
    os.chmod(tmp, 0o600)
    tmp.replace(path)  # atomic: readers never see half a file


def generate_key(keys_dir: Path, alg: str = "RS256", not_before: float | None = None) -> SigningKey:
    """Create a new key file (0600) that may sign from ``not_before`` (default: now)."""
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
    start = time.time() if not_before is None else not_before
    _write_metadata(keys_dir / f"{kid}.json", {"alg": alg, "not_before": start, "unpublish_after": None})
    _write_private(keys_dir / f"{kid}.pem", pem)
    return SigningKey(kid=kid, alg=alg, private_key=private_key, not_before=start)


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
    sidecar = path.with_suffix(".json")
    metadata: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return SigningKey(kid=path.stem, alg=alg, private_key=loaded,
                      not_before=float(metadata.get("not_before", path.stat().st_mtime)),
                      unpublish_after=metadata.get("unpublish_after"))


def load_keys(keys_dir: Path, now: float | None = None) -> KeySet:
    """Load every key still published; raises if none can sign RS256 (OIDC requires it)."""
    moment = time.time() if now is None else now
    keys = [k for k in (_load_key(p) for p in sorted(keys_dir.glob("*.pem")))
            if k.unpublish_after is None or k.unpublish_after > moment]
    keyset = KeySet(keys=tuple(keys), jwks_json=json.dumps({"keys": [k.public_jwk for k in keys]},
                                                           separators=(",", ":")).encode())
    try:
        keyset.signing_key("RS256", moment)
    except LookupError:
        raise UnusableKey(f"no RS256 signing key in {keys_dir}; run `identity-service keys generate`") from None
    return keyset


def ensure_development_key(keys_dir: Path) -> KeySet:
    """Embedded default: an RS256 and an ES256 key on first start, then whatever is there."""
    if not any(keys_dir.glob("*.pem")):
        generate_key(keys_dir, "RS256")
        generate_key(keys_dir, "ES256")
    return load_keys(keys_dir)


def require_signing_key(keys: KeySet, alg: str) -> None:
    """Refuse to start when no key can sign ``alg`` now (it would fail every token request instead)."""
    try:
        keys.signing_key(alg)
    except LookupError:
        raise UnusableKey(f"no {alg} signing key for access tokens; run `identity-service keys generate --alg "
                          f"{alg}` or set IDENTITY_ACCESS_TOKEN_ALG") from None


def rotate(keys_dir: Path, alg: str, publish_ahead: int, keep_after: int, now: float | None = None) -> SigningKey:
    """Add the next ``alg`` key, signing from ``now + publish_ahead`` (after caches saw it in JWKS);
    the keys it replaces stay published ``keep_after`` seconds more (their tokens' lifetime)."""
    moment = time.time() if now is None else now
    current = load_keys(keys_dir, moment)
    new = generate_key(keys_dir, alg, not_before=moment + publish_ahead)
    for key in current.keys:
        if key.alg == alg and key.kid != new.kid and key.unpublish_after is None:
            _write_metadata(keys_dir / f"{key.kid}.json", {"alg": alg, "not_before": key.not_before,
                                                           "unpublish_after": new.not_before + keep_after})
    return new


def prune(keys_dir: Path, now: float | None = None) -> list[str]:
    """Delete keys whose publication window has ended; returns their kids."""
    moment = time.time() if now is None else now
    removed = []
    for path in sorted(keys_dir.glob("*.pem")):
        key = _load_key(path)
        if key.unpublish_after is not None and key.unpublish_after <= moment:
            path.unlink()
            path.with_suffix(".json").unlink(missing_ok=True)
            removed.append(key.kid)
    return removed


class KeyRing:
    """The process's view of the keys directory, reloaded when it changes (checked every few seconds)."""

    def __init__(self, keys_dir: Path, check_every: float = 5.0) -> None:
        self.keys_dir = keys_dir
        self.check_every = check_every
        self._lock = threading.Lock()
        self._signature = self._fingerprint()
        self._keyset = load_keys(keys_dir)
        self._checked = time.monotonic()

    def _fingerprint(self) -> tuple[tuple[str, float], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime) for p in self.keys_dir.iterdir()
                            if p.suffix in (".pem", ".json")))

    def current(self) -> KeySet:
        if time.monotonic() - self._checked >= self.check_every:
            self.reload()
        return self._keyset

    def reload(self, force: bool = False) -> KeySet:
        with self._lock:
            self._checked = time.monotonic()
            signature = self._fingerprint()
            # A key whose not_before or unpublish_after passed changes what is served even without a file change.
            if force or signature != self._signature or self._window_changed():
                self._keyset = load_keys(self.keys_dir)
                self._signature = signature
        return self._keyset

    def _window_changed(self) -> bool:
        now = time.time()
        return any(k.unpublish_after is not None and k.unpublish_after <= now for k in self._keyset.keys)

    # The KeySet interface, always on the current keys.
    def signing_key(self, alg: str, now: float | None = None) -> SigningKey:
        return self.current().signing_key(alg, now)

    def active_for(self, alg: str) -> SigningKey:
        return self.current().active_for(alg)

    def by_kid(self, kid: str) -> SigningKey | None:
        return self.current().by_kid(kid)

    @property
    def jwks_json(self) -> bytes:
        return self.current().jwks_json

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.current().algorithms
