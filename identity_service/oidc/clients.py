"""Registered clients as authlib sees them (``ClientMixin``), backed by the ``clients`` table.

Every token, introspection and revocation request authenticates a client, so registrations are
cached in the process for a few seconds (:class:`ClientCache`): the token endpoint then needs no SQL
at all for ``client_credentials``. Changes made through this process's admin API invalidate the
entry at once; changes made elsewhere (another worker, the CLI) are seen within the TTL
(``IDENTITY_CLIENT_CACHE_TTL``, 10 s by default, 0 turns the cache off).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy.engine import Engine
from sqlmodel import Session

from identity_service.security.client_secrets import verify_client_secret
from identity_service.storage.database import single_statement
from identity_service.storage.models import Client


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """Adapter from a ``Client`` row to authlib's client interface."""

    def __init__(self, row: Client) -> None:
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC Core §3.1.2.1: redirect_uri is REQUIRED; never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.row.allowed_scopes.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.3: exact string comparison, no prefix or wildcard matching.
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_client_secret(client_secret, self.row.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


# The registration rule (admin/clients.py) is also the lookup rule: an id that could never have been
# registered is unknown without a query (and a NUL byte, which PostgreSQL refuses, never reaches it).
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{3,100}$")


def find_client(engine: Engine, client_id: str) -> OAuthClient | None:
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        return None
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Client, client_id)
    return OAuthClient(row) if row else None


class ClientCache:
    """Client registrations by id, each kept ``ttl`` seconds; unknown ids are never cached (a client
    registered a moment ago works at once, and random ids cannot fill the cache)."""

    def __init__(self, engine: Engine, ttl: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = single_statement(engine)
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, OAuthClient]] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation: a row read before one (a secret rotated meanwhile) is not cached.
        self._generation = 0

    def cached(self, client_id: str) -> OAuthClient | None:
        """The registration if this process holds a fresh copy; None otherwise (no I/O)."""
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    def get(self, client_id: str) -> OAuthClient | None:
        client = self.cached(client_id)
        if client is not None:
            return client
        generation = self._generation
        client = find_client(self._engine, client_id)
        if client is not None and self._ttl > 0:
            with self._lock:
                if generation != self._generation:
                    return client  # an invalidation ran while we read: this copy may predate it
                if len(self._entries) >= self._max_entries:
                    self._entries.pop(next(iter(self._entries)))  # the oldest insertion
                self._entries[client_id] = (self._clock() + self._ttl, client)
        return client

    def invalidate(self, client_id: str | None = None) -> None:
        """Forget one client (or all): the next request reads the table again."""
        with self._lock:
            self._generation += 1
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
