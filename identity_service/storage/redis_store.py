"""Redis ephemeral store: shared by every process; every Redis failure becomes StoreUnavailable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from identity_service.storage.ephemeral import StoreUnavailable

T = TypeVar("T")

# INCR and set the expiry only when the counter is created, atomically: a fixed window.
_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisStore:
    def __init__(self, client: redis.Redis[str], prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR_WITH_TTL)

    @classmethod
    def from_url(cls, url: str, prefix: str, max_connections: int = 50) -> RedisStore:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30,
            max_connections=max_connections, decode_responses=True,
        )
        return cls(client, prefix)

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}{namespace}:{key}"

    def _call(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

    @staticmethod
    def _load(raw: Any) -> dict[str, Any] | None:
        return None if raw is None else dict(json.loads(raw))

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> None:
        raw = json.dumps(value)
        self._call(lambda: self._client.set(self._key(namespace, key), raw, ex=ttl))

    def add(self, namespace: str, key: str, value: dict[str, Any], ttl: int) -> bool:
        raw = json.dumps(value)
        return bool(self._call(lambda: self._client.set(self._key(namespace, key), raw, ex=ttl, nx=True)))

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        return self._load(self._call(lambda: self._client.get(self._key(namespace, key))))

    def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        return self._load(self._call(lambda: self._client.getdel(self._key(namespace, key))))

    def delete(self, namespace: str, key: str) -> None:
        self._call(lambda: self._client.delete(self._key(namespace, key)))

    def incr(self, namespace: str, key: str, ttl: int) -> int:
        return int(self._call(lambda: self._incr(keys=[self._key(namespace, key)], args=[ttl])))

    def ttl(self, namespace: str, key: str) -> int | None:
        remaining = int(self._call(lambda: self._client.ttl(self._key(namespace, key))))
        return None if remaining < 0 else remaining

    def scan(self, namespace: str, limit: int = 1000) -> list[str]:
        prefix = self._key(namespace, "")

        def collect() -> list[str]:
            keys: list[str] = []
            for key in self._client.scan_iter(match=prefix + "*", count=500):
                keys.append(str(key)[len(prefix):])
                if len(keys) >= limit:
                    break
            return keys

        return self._call(collect)

    def set_add(self, namespace: str, key: str, member: str, ttl: int) -> None:
        full_key = self._key(namespace, key)

        def add() -> None:
            # One MULTI/EXEC: the set never exists without its expiry.
            with self._client.pipeline(transaction=True) as pipe:
                pipe.sadd(full_key, member)
                pipe.expire(full_key, ttl)
                pipe.execute()

        self._call(add)

    def set_remove(self, namespace: str, key: str, member: str) -> None:
        self._call(lambda: self._client.srem(self._key(namespace, key), member))

    def set_members(self, namespace: str, key: str) -> set[str]:
        members = self._call(lambda: self._client.smembers(self._key(namespace, key)))
        return {str(m) for m in members}

    def ping(self) -> None:
        self._call(self._client.ping)
