"""A bounded pool of connections for one event loop, shared by the hot paths' Redis and PostgreSQL clients.

The same rules as the blocking pools (SQLAlchemy's ``QueuePool``, redis-py's): a connection is opened
when a request needs one and none is idle (a refused connection fails that request at once), idle
ones are reused most-recent first, at most ``max_size`` exist, and a burst beyond that *waits*, in
arrival order, up to ``timeout`` seconds for one to come back — on the event loop concurrency is not
bounded by the threadpool, so failing at once would turn a burst into 503s. A connection older than
``recycle`` seconds is retired before use (middleboxes drop long-idle connections without a word). A
caller whose work on a connection failed closes it instead of returning it; one the peer closed while
idle is dropped when next picked.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

C = TypeVar("C")


class PoolExhausted(Exception):
    """Every connection stayed lent out for the whole wait."""


class AsyncPool(Generic[C]):
    def __init__(self, connect: Callable[[], Awaitable[C]], is_closed: Callable[[C], bool],
                 close: Callable[[C], object], max_size: int, timeout: float, recycle: float | None = None) -> None:
        self._connect = connect
        self._is_closed = is_closed
        self._close = close
        self._max = max_size
        self._timeout = timeout
        self._recycle = recycle
        self._idle: list[tuple[float, C]] = []  # (opened at, connection)
        self._opened_at: dict[int, float] = {}
        self._waiting: deque[asyncio.Future[C | None]] = deque()
        self._open = 0  # connections that exist, idle or lent out

    async def acquire(self) -> C:
        while self._idle:
            opened_at, connection = self._idle.pop()
            if not self._is_closed(connection) and not self._expired(opened_at):
                return connection
            self._discard(connection)
        if self._open < self._max:
            self._open += 1
            try:
                connection = await self._connect()
            except BaseException:
                self._open -= 1
                self._wake_one()
                raise
            self._opened_at[id(connection)] = time.monotonic()
            return connection
        waiter: asyncio.Future[C | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self._timeout):
                handed = await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed over just as the wait ended: pass it on, or the pool would lose it.
                self._pass_on(waiter.result())
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise PoolExhausted(f"no connection came back within {self._timeout} s") from exc
            raise
        return handed if handed is not None else await self.acquire()  # None: open one in place of a lost one

    def release(self, connection: C) -> None:
        """Give back a connection after successful use."""
        if self._is_closed(connection):
            self.discard(connection)
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append((self._opened_at.get(id(connection), 0.0), connection))

    def discard(self, connection: C) -> None:
        """Close a connection whose use failed (its state is unknown) and let a waiter open another."""
        self._discard(connection)
        self._wake_one()

    def _discard(self, connection: C) -> None:
        self._open -= 1
        self._opened_at.pop(id(connection), None)
        self._close(connection)

    def _expired(self, opened_at: float) -> bool:
        return self._recycle is not None and time.monotonic() - opened_at > self._recycle

    def _pass_on(self, handed: C | None) -> None:
        if handed is None:
            self._wake_one()
        else:
            self.release(handed)

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close the idle connections (at shutdown, or when they are all presumed dead)."""
        while self._idle:
            self._discard(self._idle.pop()[1])
