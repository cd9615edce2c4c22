"""Client secrets are high-entropy random strings: a salted keyed fast hash is enough and keeps the
token endpoint fast (a slow password hash here would cap it; DESIGN.md §6)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_SCHEME = "hmac-sha256"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    digest = hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def verify_client_secret(secret: str, stored: str | None) -> bool:
    """Constant-time comparison; False for any malformed stored value."""
    if not stored or not secret:
        return False
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(candidate, digest)
