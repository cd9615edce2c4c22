"""In-process ephemeral store for the embedded defaults (one process; thread-safe)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from identity_service.storage.ephemeral import Delete, Put, StoreUnavailable, Write


class MemoryStore:
    """A dict of JSON strings with expiry times. Values are serialised so callers cannot mutate them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._writes = 0

    @staticmethod
    def _key(namespace: str, key: str) -> str:
        return f"{namespace}:{key}"

    def _live(self, full_key: str) -> str | None:
        entry = self._data.get(full_key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._data[full_key]
            return None
        return entry[1]

    def _write(self, full_key: str, raw: str, ttl: int) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            self._purge()
        if len(self._data) >= self._max_entries and full_key not in self._data:
            self._purge()
            if len(self._data) >= self._max_entries:
                raise StoreUnavailable("in-process store is full")
        self._data[full_key] = (self._clock() + ttl, raw)

    def _purge(self) -> None:
        now = self._clock()
        for full_key in [k for k, (expires, _) in self._data.items() if expires <= now]:
            del self._data[full_key]

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> None:
        raw = json.dumps(value)
        with self._lock:
            self._write(self._key(namespace, key), raw, ttl)

    def add(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> bool:
        raw = json.dumps(value)
        full_key = self._key(namespace, key)
        with self._lock:
            if self._live(full_key) is not None:
                return False
            self._write(full_key, raw, ttl)
            return True

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            raw = self._live(self._key(namespace, key))
        return None if raw is None else dict(json.loads(raw))

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        return [self.get(namespace, key) for namespace, key in keys]

    def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        full_key = self._key(namespace, key)
        with self._lock:
            raw = self._live(full_key)
            if raw is not None:
                del self._data[full_key]
        return None if raw is None else dict(json.loads(raw))

    def take_and_add(self, namespace: str, key: str, add: Put) -> dict[str, Any] | None:
        taken = self.take(namespace, key)
        self.add(add.namespace, add.key, add.value, add.ttl)
        return taken

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            self._data.pop(self._key(namespace, key), None)

    def incr(self, namespace: str, key: str, ttl: int) -> int:
        full_key = self._key(namespace, key)
        with self._lock:
            raw = self._live(full_key)
            if raw is None:
                self._write(full_key, "1", ttl)
                return 1
            expires, _ = self._data[full_key]
            count = int(raw) + 1
            self._data[full_key] = (expires, str(count))  # the window does not slide
            return count

    def ttl(self, namespace: str, key: str) -> int | None:
        full_key = self._key(namespace, key)
        with self._lock:
            if self._live(full_key) is None:
                return None
            return max(0, int(self._data[full_key][0] - self._clock() + 0.999))

    def scan(self, namespace: str, limit: int = 1000) -> list[str]:
        prefix = f"{namespace}:"
        now = self._clock()
        with self._lock:
            keys = [k[len(prefix):] for k, (expires, _) in self._data.items() if k.startswith(prefix) and expires > now]
        return keys[:limit]

    def _set_add(self, namespace: str, key: str, member: str, ttl: int) -> None:
        full_key = self._key(namespace, key)
        with self._lock:
            raw = self._live(full_key)
            members = set(json.loads(raw)) if raw is not None else set()
            members.add(member)
            self._write(full_key, json.dumps(sorted(members)), ttl)

    def set_remove(self, namespace: str, key: str, member: str) -> None:
        full_key = self._key(namespace, key)
        with self._lock:
            raw = self._live(full_key)
            if raw is None:
                return
            members = set(json.loads(raw)) - {member}
            if members:
                expires, _ = self._data[full_key]
                self._data[full_key] = (expires, json.dumps(sorted(members)))  # removal keeps the TTL
            else:
                del self._data[full_key]

    def set_members(self, namespace: str, key: str) -> set[str]:
        with self._lock:
            raw = self._live(self._key(namespace, key))
        return set() if raw is None else {str(m) for m in json.loads(raw)}

    def ping(self) -> None:
        return None

    def put_many(self, puts: Sequence[Put]) -> None:
        self.write_many(puts)

    def write_many(self, writes: Sequence[Write]) -> None:
        for write in writes:
            if isinstance(write, Put):
                self.put(write.namespace, write.key, write.value, write.ttl)
            elif isinstance(write, Delete):
                self.delete(write.namespace, write.key)
            else:
                self._set_add(write.namespace, write.key, write.member, write.ttl)

    # In-process: nothing to wait for, so the async forms run inline (the lock is held for microseconds).

    async def count_and_put(self, namespace: str, key: str, window: int,
                            puts: Sequence[Put]) -> tuple[int, int]:
        count = self.incr(namespace, key, window)
        self.put_many(puts)
        return count, self.ttl(namespace, key) or window

    async def put_many_async(self, puts: Sequence[Put]) -> None:
        self.put_many(puts)

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        return [self.get(namespace, key) for namespace, key in keys]
