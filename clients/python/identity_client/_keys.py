"""JWKS and discovery caching shared by the sync and async verifiers (no I/O here)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

_MAX_AGE = re.compile(r"max-age=(\d+)")
DEFAULT_MAX_AGE = 300


def cache_seconds(cache_control: str | None, floor: int = 60, ceiling: int = 86_400) -> int:
    """How long to keep a JWKS: the response's ``max-age``, clamped; 5 minutes without one."""
    match = _MAX_AGE.search(cache_control or "")
    seconds = int(match.group(1)) if match else DEFAULT_MAX_AGE
    return max(floor, min(seconds, ceiling))


@dataclass
class KeyCache:
    """Keys by ``kid``. Unknown kids trigger a refresh at most every ``min_refresh_interval`` seconds,
    so a flood of tokens with made-up kids cannot hammer the provider."""

    min_refresh_interval: float = 30.0
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    expires_at: float = 0.0
    last_attempt: float = float("-inf")
    _built: dict[tuple[str, str], Any] = field(default_factory=dict)

    def fresh(self, now: float | None = None) -> bool:
        return bool(self.keys) and (time.monotonic() if now is None else now) < self.expires_at

    def may_refresh(self, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        return moment - self.last_attempt >= self.min_refresh_interval

    def attempted(self, now: float | None = None) -> None:
        self.last_attempt = time.monotonic() if now is None else now

    def update(self, body: bytes, cache_control: str | None, now: float | None = None) -> None:
        document = json.loads(body)
        keys = {}
        for jwk in document.get("keys", []):
            kid = jwk.get("kid")
            if isinstance(kid, str) and jwk.get("use", "sig") == "sig" and "d" not in jwk:
                keys[kid] = jwk
        if not keys:
            raise ValueError("the JWKS has no usable signing keys")
        self.keys = keys
        self._built = {}
        self.expires_at = (time.monotonic() if now is None else now) + cache_seconds(cache_control)

    def key_for(self, kid: str, alg: str) -> Any | None:
        """A verification key for ``kid`` usable with ``alg`` (never built from the token itself)."""
        built = self._built.get((kid, alg))
        if built is not None:
            return built  # parsing a JWK into a key object costs more than the signature check
        jwk = self.keys.get(kid)
        if jwk is None or jwk.get("alg", alg) != alg:
            return None
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            return None
        self._built[(kid, alg)] = key
        return key
