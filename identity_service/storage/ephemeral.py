"""Ephemeral state with a TTL: authorization codes, login sessions, OTPs, counters.

Two implementations of one interface: :class:`MemoryStore` (embedded, one process) and
:class:`RedisStore` (shared by every process). Values are JSON objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class StoreUnavailable(Exception):
    """The ephemeral store cannot be reached; callers answer 503, never guess."""


@dataclass(frozen=True)
class Put:
    """One value to store (``namespace:key`` for ``ttl`` seconds) in a batch."""

    namespace: str
    key: str
    value: dict[str, Any]
    ttl: int


@dataclass(frozen=True)
class Delete:
    """One value to remove, in a batch."""

    namespace: str
    key: str


@dataclass(frozen=True)
class SetAdd:
    """Add ``member`` to the set ``namespace:key`` and (re)start the set's TTL, in a batch (per-account
    indexes); the set never exists without its TTL."""

    namespace: str
    key: str
    member: str
    ttl: int


Write = Put | Delete | SetAdd


class EphemeralStore(Protocol):
    def put(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> None:
        """Store ``value`` under ``namespace:key`` for ``ttl`` seconds, replacing any old value."""

    def add(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Store only if absent; True if stored (replay caches, single-use markers)."""

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        """The value, or None when absent or expired."""

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """:meth:`get` of several ``(namespace, key)`` pairs in one round trip (blocking; the event
        loop's form is :meth:`get_many`)."""

    def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Atomically read and delete: exactly one caller gets a single-use value."""

    def take_and_add(self, namespace: str, key: str, add: Put) -> dict[str, Any] | None:
        """:meth:`take`, and :meth:`add` ``add`` (stored only if absent) in the same round trip."""

    def delete(self, namespace: str, key: str) -> None:
        """Remove the value if present."""

    def incr(self, namespace: str, key: str, ttl: int) -> int:
        """Increment a counter; its TTL starts at the first increment. Returns the new count."""

    def ttl(self, namespace: str, key: str) -> int | None:
        """Seconds left, or None when absent."""

    def scan(self, namespace: str, limit: int = 1000) -> list[str]:
        """Keys (without namespace) currently live in ``namespace``, at most ``limit`` (operator views)."""

    def set_remove(self, namespace: str, key: str, member: str) -> None:
        """Remove ``member`` from the set; an emptied set disappears."""

    def set_members(self, namespace: str, key: str) -> set[str]:
        """The members of the set (empty when absent or expired)."""

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` if the store cannot be used."""

    def put_many(self, puts: Sequence[Put]) -> None:
        """Store several values in one round trip (the records of one token response)."""

    def write_many(self, writes: Sequence[Write]) -> None:
        """Apply several writes in one round trip, in order. Each is atomic on its own; together they
        are not a transaction (their keys may live on different Redis Cluster nodes)."""

    # Hot paths (token endpoint, userinfo, introspection) run on the event loop: these never block it
    # and each costs one round trip (a Redis pipeline), whatever the number of keys.

    async def count_and_put(self, namespace: str, key: str, window: int,
                            puts: Sequence[Put]) -> tuple[int, int]:
        """:meth:`incr` the counter and store ``puts`` in one round trip; returns the new count and
        the seconds left in its window."""

    async def put_many_async(self, puts: Sequence[Put]) -> None:
        """:meth:`put_many` on the event loop (the records of a response that was counted earlier)."""

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """The values of several ``(namespace, key)`` pairs (None where absent) in one round trip."""


def make_store(redis_url: str | None, prefix: str) -> EphemeralStore:
    """Redis when a URL is configured (shared by every process), otherwise in-process."""
    if redis_url:
        from identity_service.storage.redis_store import RedisStore

        return RedisStore.from_url(redis_url, prefix)
    from identity_service.storage.memory_store import MemoryStore

    return MemoryStore()
