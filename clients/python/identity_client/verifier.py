"""Verify identity_service tokens: ``TokenVerifier`` (sync, thread-safe) and ``AsyncTokenVerifier``.

Both discover the provider from its issuer URL, cache its JWKS (refreshing on an unknown ``kid`` at
most every 30 s, honouring ``Cache-Control``, and keeping the last keys when the provider is down),
and cache verified tokens until they expire so verifying the same token again costs a dict lookup.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from identity_client._checks import (
    DEFAULT_ALGORITHMS,
    DEFAULT_LEVELS,
    Header,
    VerifiedCache,
    check_nonce,
    check_type,
    decode,
    level_of,
    require_level,
    screen,
)
from identity_client._keys import KeyCache
from identity_client.errors import InvalidToken, ProviderUnavailable
from identity_client.identity import Identity


class _Core:
    def __init__(self, issuer: str, audience: str | None, *, algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
                 leeway: int = 30, levels: dict[str, int] | None = None, cache_size: int = 10_000,
                 min_refresh_interval: float = 30.0) -> None:
        if "none" in algorithms or any(a.startswith("HS") for a in algorithms):
            raise ValueError("only asymmetric algorithms may verify provider tokens")
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.levels = dict(levels or DEFAULT_LEVELS)
        self.keys = KeyCache(min_refresh_interval=min_refresh_interval)
        self.verified = VerifiedCache(cache_size)
        self.metadata: dict[str, Any] | None = None

    def _check_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        if metadata.get("issuer") != self.issuer:
            raise ProviderUnavailable("discovery document names another issuer")
        if not isinstance(metadata.get("jwks_uri"), str):
            raise ProviderUnavailable("discovery document has no jwks_uri")
        return metadata

    def _cached(self, kind: str, token: str, level: int | None, nonce: str | None) -> Identity | None:
        identity = self.verified.get(kind, token)
        if identity is not None:
            check_nonce(identity, nonce)
            require_level(identity, level)
        return identity

    def _finish(self, kind: str, token: str, header: Header, key: Any, level: int | None,
                nonce: str | None) -> Identity:
        check_type(kind, header)
        claims = decode(token, key, header, self.issuer, self.audience, self.leeway)
        identity = Identity.from_claims(claims, level_of(claims, self.levels))
        self.verified.put(kind, token, identity)
        check_nonce(identity, nonce)
        require_level(identity, level)
        return identity


class TokenVerifier(_Core):
    """Synchronous verifier; share one instance per process (thread-safe)."""

    def __init__(self, issuer: str, audience: str | None, *, http: httpx.Client | None = None,
                 **options: Any) -> None:
        super().__init__(issuer, audience, **options)
        self._http = http or httpx.Client(timeout=5.0)
        self._lock = threading.Lock()

    def discover(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once, then kept); raises ``ProviderUnavailable``."""
        if self.metadata is None:
            try:
                response = self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                self.metadata = self._check_metadata(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailable(f"discovery failed: {type(exc).__name__}") from None
        return self.metadata

    def _refresh(self) -> None:
        self.keys.attempted()
        try:
            response = self._http.get(self.discover()["jwks_uri"])
            response.raise_for_status()
            self.keys.update(response.content, response.headers.get("cache-control"))
        except (httpx.HTTPError, ValueError) as exc:
            if not self.keys.keys:
                raise ProviderUnavailable(f"JWKS unavailable: {type(exc).__name__}") from None
            # Keep the keys we have: the provider being briefly down must not stop verification.

    def _key(self, header: Header) -> Any:
        with self._lock:
            if not self.keys.fresh() and self.keys.may_refresh():
                self._refresh()
            key = self.keys.key_for(header.kid, header.alg)
            if key is None and header.kid not in self.keys.keys and self.keys.may_refresh():
                self._refresh()  # a rotation published a key we have not seen yet
                key = self.keys.key_for(header.kid, header.alg)
        if key is None:
            raise InvalidToken("unknown signing key (kid)")
        return key

    def verify_id_token(self, token: str, *, nonce: str | None = None, level: int | None = None) -> Identity:
        """Verify an ID token (signature, iss, aud, exp/iat/nbf, nonce, level)."""
        return self._verify("id_token", token, level, nonce)

    def verify_access_token(self, token: str, *, level: int | None = None) -> Identity:
        """Verify an RFC 9068 JWT access token (signature, iss, aud, exp/iat/nbf, typ, level)."""
        return self._verify("access_token", token, level, None)

    def _verify(self, kind: str, token: str, level: int | None, nonce: str | None) -> Identity:
        cached = self._cached(kind, token, level, nonce)
        if cached is not None:
            return cached
        header = screen(token, self.algorithms)
        return self._finish(kind, token, header, self._key(header), level, nonce)


class AsyncTokenVerifier(_Core):
    """Asynchronous verifier for asyncio applications; share one instance per event loop."""

    def __init__(self, issuer: str, audience: str | None, *, http: httpx.AsyncClient | None = None,
                 **options: Any) -> None:
        super().__init__(issuer, audience, **options)
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._lock = asyncio.Lock()

    async def discover(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once, then kept); raises ``ProviderUnavailable``."""
        if self.metadata is None:
            try:
                response = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                self.metadata = self._check_metadata(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailable(f"discovery failed: {type(exc).__name__}") from None
        return self.metadata

    async def _refresh(self) -> None:
        self.keys.attempted()
        try:
            response = await self._http.get((await self.discover())["jwks_uri"])
            response.raise_for_status()
            self.keys.update(response.content, response.headers.get("cache-control"))
        except (httpx.HTTPError, ValueError) as exc:
            if not self.keys.keys:
                raise ProviderUnavailable(f"JWKS unavailable: {type(exc).__name__}") from None

    async def _key(self, header: Header) -> Any:
        async with self._lock:
            if not self.keys.fresh() and self.keys.may_refresh():
                await self._refresh()
            key = self.keys.key_for(header.kid, header.alg)
            if key is None and header.kid not in self.keys.keys and self.keys.may_refresh():
                await self._refresh()
                key = self.keys.key_for(header.kid, header.alg)
        if key is None:
            raise InvalidToken("unknown signing key (kid)")
        return key

    async def verify_id_token(self, token: str, *, nonce: str | None = None, level: int | None = None) -> Identity:
        """Verify an ID token (signature, iss, aud, exp/iat/nbf, nonce, level)."""
        return await self._verify("id_token", token, level, nonce)

    async def verify_access_token(self, token: str, *, level: int | None = None) -> Identity:
        """Verify an RFC 9068 JWT access token (signature, iss, aud, exp/iat/nbf, typ, level)."""
        return await self._verify("access_token", token, level, None)

    async def _verify(self, kind: str, token: str, level: int | None, nonce: str | None) -> Identity:
        cached = self._cached(kind, token, level, nonce)
        if cached is not None:
            return cached
        header = screen(token, self.algorithms)
        return self._finish(kind, token, header, await self._key(header), level, nonce)

    async def aclose(self) -> None:
        """Close the HTTP client (the one given to the constructor too)."""
        await self._http.aclose()
