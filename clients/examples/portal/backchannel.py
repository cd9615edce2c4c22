"""Verify back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6).

The SDK verifies ID and access tokens; a logout token is a third kind, so this module checks it
with pyjwt against the same provider JWKS: signature (asymmetric algorithms only), ``typ``
``logout+jwt``, ``iss``, ``aud``, ``iat``/``exp``, the back-channel ``events`` member, ``sid``
or ``sub``, no ``nonce``, and each ``jti`` once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_ALGORITHMS = ("RS256", "PS256", "ES256")


class InvalidLogoutToken(Exception):
    """The logout token must be refused (answer 400, §2.8)."""


@dataclass(frozen=True)
class LogoutRequest:
    """Whose sessions to end: the provider session ``sid`` and/or every session of ``sub``."""

    sub: str | None
    sid: str | None


class LogoutTokenVerifier:
    """Checks logout tokens for one client; ``jwks_uri`` is read lazily from discovery."""

    def __init__(self, issuer: str, client_id: str, jwks_uri: Callable[[], str], leeway: int = 30) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._jwks_uri = jwks_uri
        self._jwks: jwt.PyJWKClient | None = None
        self.leeway = leeway
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _keys(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self._jwks_uri(), cache_keys=True, lifespan=300)
        return self._jwks

    def verify(self, token: str) -> LogoutRequest:
        try:
            header = jwt.get_unverified_header(token)
            # §2.4: logout tokens are explicitly typed, so an ID token can never pass as one.
            if header.get("typ") != "logout+jwt":
                raise InvalidLogoutToken("typ must be logout+jwt")
            if header.get("alg") not in _ALGORITHMS:
                raise InvalidLogoutToken("algorithm not allowed")
            key = self._keys().get_signing_key_from_jwt(token).key
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(_ALGORITHMS), audience=self.client_id, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]})
        except jwt.PyJWTError as exc:
            raise InvalidLogoutToken(f"{type(exc).__name__}: {exc}") from None
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise InvalidLogoutToken("events must contain the back-channel logout event")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token must not contain a nonce")  # §2.4
        sub, sid = claims.get("sub"), claims.get("sid")
        if not isinstance(sub, str) and not isinstance(sid, str):
            raise InvalidLogoutToken("a logout token names a sid or a sub")
        self._remember_once(str(claims["jti"]), float(claims["exp"]))
        return LogoutRequest(sub=sub if isinstance(sub, str) else None, sid=sid if isinstance(sid, str) else None)

    def _remember_once(self, jti: str, expires_at: float) -> None:
        """§2.6 (recommended): refuse a replayed jti while the token could still be accepted."""
        now = time.time()
        with self._lock:
            for old in [j for j, exp in self._seen.items() if exp + self.leeway < now]:
                del self._seen[old]
            if jti in self._seen:
                raise InvalidLogoutToken("this logout token was already used (jti)")
            self._seen[jti] = expires_at
