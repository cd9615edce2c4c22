"""Pipelines of Redis commands for the event loop: one write and one read per request, little else.

The hot paths (token endpoint, userinfo, introspection) each send one short pipeline per request.
redis-py's asyncio client spent ≈110 µs of CPU on such a pipeline (command objects, a retry wrapper,
timeouts, health checks, asyncio streams) where the wire needs a few: this module sends the commands
as one packed buffer (``hiredis.pack_command``) on an :class:`asyncio.Protocol` and lets hiredis's
C parser cut the replies (≈15 µs; docs/operations.md, "Hot paths").

It only does what those paths need: plain pipelines (no MULTI, no scripts, so every command stands
alone and suits Redis Cluster), ``AUTH``/``SELECT`` from the URL, TLS (``rediss://``) and Unix
sockets, a bounded pool per event loop that makes a burst *wait* for a connection rather than fail,
and a timeout on every round trip. Every failure — refused, reset, timed out, an error reply —
raises :class:`StoreUnavailable`; the connection involved is dropped, never reused. A connection the
server closed while idle (a restart) leaves the pool as soon as the event loop sees it close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.connection import parse_url

from identity_service.storage.ephemeral import StoreUnavailable

Command = tuple[str | int, ...]


class _Connection(asyncio.Protocol):
    """One connection; at most one pipeline in flight (the pool hands it to one caller at a time)."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(encoding="utf-8")
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[list[Any]] | None = None
        self._expected = 0
        self._replies: list[Any] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self._fail(ConnectionError("data nobody asked for"))
            return
        self._reader.feed(data)
        try:
            while len(self._replies) < self._expected:
                reply = self._reader.gets()
                if reply is False:
                    return  # the rest has not arrived yet
                self._replies.append(reply)
            if self._reader.gets() is not False:
                raise hiredis.ProtocolError("more replies than commands")
        except hiredis.ProtocolError as exc:
            self._fail(exc)
            return
        waiter, replies = self._waiter, self._replies
        self._waiter, self._expected, self._replies = None, 0, []
        if not waiter.done():
            waiter.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionError("connection closed"))

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def execute(self, commands: Sequence[Command], timeout: float) -> list[Any]:
        assert self._transport is not None and self._waiter is None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[Any]] = loop.create_future()
        self._waiter = waiter
        self._expected = len(commands)
        # (hiredis's stub types the argument as a one-element tuple; any length is accepted.)
        self._transport.write(b"".join([hiredis.pack_command(command) for command in commands]))  # type: ignore[arg-type]
        deadline = loop.call_later(timeout, self._fail, TimeoutError("no reply in time"))
        try:
            return await waiter
        except BaseException:
            # Cancelled or failed midway: the replies still due would answer the next caller.
            self._fail(ConnectionError("pipeline abandoned"))
            raise
        finally:
            deadline.cancel()


class RedisPipelines:
    """A pool of up to ``max_connections`` connections to the Redis at ``url``, for one event loop."""

    def __init__(self, url: str, max_connections: int = 50, timeout: float = 2.0) -> None:
        options = parse_url(url)
        self._path: str | None = options.get("path")
        self._host: str = options.get("host", "localhost")
        self._port: int = int(options.get("port", 6379))
        self._tls = "SSL" in getattr(options.get("connection_class"), "__name__", "")
        self._setup: list[Command] = []
        if options.get("password"):
            username = options.get("username")
            self._setup.append(("AUTH", username, options["password"]) if username else ("AUTH", options["password"]))
        if int(options.get("db", 0)):
            self._setup.append(("SELECT", int(options["db"])))
        self._max = max_connections
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._waiting: deque[asyncio.Future[_Connection | None]] = deque()
        self._open = 0  # connections that exist, idle or lent out

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` as one pipeline; their replies in order (error replies raise)."""
        connection = await self._acquire()
        try:
            replies = await connection.execute(commands, self._timeout)
        except (OSError, TimeoutError, ConnectionError, hiredis.ProtocolError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc
        finally:
            self._release(connection)
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise StoreUnavailable(f"redis: {str(reply).split(' ', 1)[0]}")  # e.g. OOM, READONLY
        return replies

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: warm, and the others may time out
            if not connection.closed:
                return connection
            self._open -= 1
        if self._open < self._max:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self._wake_one()
                raise
        # Every connection is lent out: wait for one, in arrival order, rather than fail the request.
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
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
                raise StoreUnavailable("redis: no free connection") from exc
            raise
        return handed if handed is not None else await self._acquire()  # None: open one in place of a lost one

    def _pass_on(self, handed: _Connection | None) -> None:
        if handed is None:
            self._wake_one()
        else:
            self._release(handed)

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            self._open -= 1
            self._wake_one()  # it may open a connection in place of this one
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self._timeout):
                if self._path:
                    _, connection = await loop.create_unix_connection(_Connection, self._path)
                else:
                    context = ssl.create_default_context() if self._tls else None
                    _, connection = await loop.create_connection(_Connection, self._host, self._port, ssl=context)
                for reply in await connection.execute(self._setup, self._timeout) if self._setup else []:
                    if isinstance(reply, hiredis.ReplyError):
                        raise ConnectionError(f"redis refused the connection setup: {reply}")
        except (OSError, TimeoutError, ConnectionError, hiredis.ProtocolError) as exc:
            if connection is not None:
                connection.close()
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc
        return connection
