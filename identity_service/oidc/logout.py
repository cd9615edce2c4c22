"""Logout: which clients a browser session signed in to, and back-channel logout tokens.

OpenID Connect Back-Channel Logout 1.0: every client of the session with a registered
``backchannel_logout_uri`` gets a signed logout token naming the ``sid``. Delivery runs after the
response is sent, with retries and backoff, so an unreachable client never blocks the citizen.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from identity_service.config import Settings
from identity_service.security.keys import KeyRing
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Client

log = logging.getLogger(__name__)
_SESSION_CLIENTS = "session_clients"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def remember_client(store: EphemeralStore, sid: str, client_id: str, ttl: int) -> None:
    """Record that ``client_id`` received tokens in session ``sid`` (for logout fan-out)."""
    # The session's first client (every fresh login): one round trip, SET NX, instead of GET + SET.
    if store.add(_SESSION_CLIENTS, sid, {"clients": [client_id]}, ttl):
        return
    data = store.get(_SESSION_CLIENTS, sid) or {"clients": []}
    if client_id not in data["clients"]:
        data["clients"].append(client_id)
        store.put(_SESSION_CLIENTS, sid, data, ttl)


def move_session_clients(store: EphemeralStore, old_sid: str, new_sid: str, ttl: int) -> None:
    """A renewed session id (step-up) keeps the clients to notify at logout."""
    data = store.take(_SESSION_CLIENTS, old_sid)
    if data:
        store.put(_SESSION_CLIENTS, new_sid, data, ttl)


def forget_client(store: EphemeralStore, sid: str, client_id: str) -> bool:
    """Remove ``client_id`` from session ``sid`` (consent withdrawn); True if it had signed in there."""
    data = store.get(_SESSION_CLIENTS, sid)
    if not data or client_id not in data["clients"]:
        return False
    data["clients"].remove(client_id)
    store.put(_SESSION_CLIENTS, sid, data, store.ttl(_SESSION_CLIENTS, sid) or 1)
    return True


def clients_of_session(store: EphemeralStore, sid: str) -> list[str]:
    data = store.take(_SESSION_CLIENTS, sid)
    return list(data["clients"]) if data else []


@dataclass(frozen=True)
class LogoutDelivery:
    client_id: str
    uri: str
    token: str


class BackchannelLogout:
    def __init__(self, settings: Settings, keys: KeyRing, attempts: int = 4, first_delay: float = 0.5,
                 timeout: float = 5.0) -> None:
        self.settings = settings
        self.keys = keys
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout

    def logout_token(self, client: Client, sub: str, sid: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.settings.issuer, "aud": client.client_id, "iat": now, "exp": now + 120,
                                  "jti": secrets.token_urlsafe(16), "sub": sub, "sid": sid,
                                  "events": {BACKCHANNEL_EVENT: {}}}
        key = self.keys.active_for("RS256")
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "logout+jwt"})

    async def deliver(self, deliveries: list[LogoutDelivery]) -> dict[str, bool]:
        """Send every logout token; returns client_id → delivered. Never raises."""
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
            results = await asyncio.gather(*(self._deliver_one(http, d) for d in deliveries))
        return {d.client_id: ok for d, ok in zip(deliveries, results, strict=True)}

    async def _deliver_one(self, http: httpx.AsyncClient, delivery: LogoutDelivery) -> bool:
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                response = await http.post(delivery.uri, data={"logout_token": delivery.token},
                                           headers={"Cache-Control": "no-store"})
                if response.status_code in (200, 204):
                    return True
                log.warning("back-channel logout to %s: HTTP %s (attempt %d)", delivery.client_id,
                            response.status_code, attempt)
                if 400 <= response.status_code < 500:
                    return False  # the client refused the token: retrying will not help
            except httpx.HTTPError as exc:
                log.warning("back-channel logout to %s failed (attempt %d): %s", delivery.client_id, attempt,
                            type(exc).__name__)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return False
