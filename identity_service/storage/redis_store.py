"""Redis ephemeral store: shared by every process; every Redis failure becomes StoreUnavailable.

Two pools share the configuration: redis-py's blocking client for code that runs in the threadpool
(pages, admin, the slower grants) and lean pipelines (:mod:`identity_service.storage.redis_pipelines`)
for the hot paths that run on the event loop (:meth:`RedisStore.count_and_put`,
:meth:`RedisStore.put_many_async`, :meth:`RedisStore.get_many`). An asyncio connection belongs to the
event loop that opened it, so that pool is made per running loop (one in production; test clients
may start several).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from identity_service.storage.ephemeral import Delete, Put, StoreUnavailable, Write
from identity_service.storage.redis_pipelines import Command, RedisPipelines

T = TypeVar("T")

# INCR and set the expiry only when the counter is created, atomically: a fixed window.
_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# SADD and EXPIRE as one command: a set never exists without its TTL, and unlike MULTI/EXEC it can
# share a pipeline with writes to other keys (a script's keys are declared: fine on Redis Cluster).
_SET_ADD_WITH_TTL = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


class RedisStore:
    def __init__(self, client: redis.Redis[str], prefix: str,
                 pipelines: Callable[[], RedisPipelines] | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR_WITH_TTL)
        self._make_pipelines = pipelines
        self._pipelines: tuple[asyncio.AbstractEventLoop, RedisPipelines] | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str, max_connections: int = 50) -> RedisStore:
        options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 30,
                                   "max_connections": max_connections, "decode_responses": True}
        client = redis.Redis.from_url(url, **options)
        # On the event loop a burst larger than the pool waits (up to the timeout) for a free connection
        # instead of failing at once: concurrency there is not bounded by the threadpool.
        return cls(client, prefix, lambda: RedisPipelines(url, max_connections, timeout=options["socket_timeout"]))

    async def _execute(self, commands: Sequence[Command]) -> list[Any]:
        """One pipelined round trip on this event loop's pool."""
        loop = asyncio.get_running_loop()
        if self._pipelines is None or self._pipelines[0] is not loop:
            if self._make_pipelines is None:
                raise StoreUnavailable("redis: no asyncio pool configured")
            self._pipelines = (loop, self._make_pipelines())
        return await self._pipelines[1].execute(commands)

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

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        def run() -> list[Any]:
            with self._client.pipeline(transaction=False) as pipe:
                for namespace, key in keys:
                    pipe.get(self._key(namespace, key))
                return list(pipe.execute())

        return [self._load(raw) for raw in self._call(run)]

    def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        return self._load(self._call(lambda: self._client.getdel(self._key(namespace, key))))

    def take_and_add(self, namespace: str, key: str, add: Put) -> dict[str, Any] | None:
        def run() -> Any:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.getdel(self._key(namespace, key))
                pipe.set(self._key(add.namespace, add.key), json.dumps(add.value), ex=add.ttl, nx=True)
                return pipe.execute()[0]

        return self._load(self._call(run))

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

    def set_remove(self, namespace: str, key: str, member: str) -> None:
        self._call(lambda: self._client.srem(self._key(namespace, key), member))

    def set_members(self, namespace: str, key: str) -> set[str]:
        members = self._call(lambda: self._client.smembers(self._key(namespace, key)))
        return {str(m) for m in members}

    def ping(self) -> None:
        self._call(self._client.ping)

    def put_many(self, puts: Sequence[Put]) -> None:
        self.write_many(puts)

    def write_many(self, writes: Sequence[Write]) -> None:
        def run() -> None:
            with self._client.pipeline(transaction=False) as pipe:
                for write in writes:
                    key = self._key(write.namespace, write.key)
                    if isinstance(write, Put):
                        pipe.set(key, json.dumps(write.value), ex=write.ttl)
                    elif isinstance(write, Delete):
                        pipe.delete(key)
                    else:
                        pipe.eval(_SET_ADD_WITH_TTL, 1, key, write.member, write.ttl)
                pipe.execute()

        if writes:
            self._call(run)

    async def count_and_put(self, namespace: str, key: str, window: int,
                            puts: Sequence[Put]) -> tuple[int, int]:
        counter = self._key(namespace, key)
        # Not a transaction (MULTI): each command is atomic on its own and a plain pipeline also works
        # on Redis Cluster, where the keys may live on different nodes. EXPIRE NX (Redis 7) starts the
        # window at the first hit only, as the INCR script does (fixed window).
        replies = await self._execute([("INCR", counter), ("EXPIRE", counter, window, "NX"), ("TTL", counter),
                                       *self._sets(puts)])
        remaining = int(replies[2])
        return int(replies[0]), remaining if remaining > 0 else window

    async def put_many_async(self, puts: Sequence[Put]) -> None:
        if puts:
            await self._execute(self._sets(puts))

    def _sets(self, puts: Sequence[Put]) -> list[Command]:
        return [("SET", self._key(put.namespace, put.key), json.dumps(put.value), "EX", put.ttl) for put in puts]

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        replies = await self._execute([("GET", self._key(namespace, key)) for namespace, key in keys])
        return [self._load(raw) for raw in replies]
