"""Pipelines of Redis commands for the event loop: one write and one read per request, little else.

The hot paths (token endpoint, userinfo, introspection) each send one short pipeline per request.
redis-py's asyncio client spent ≈110 µs of CPU on such a pipeline (command objects, a retry wrapper,
timeouts, health checks, asyncio streams) where the wire needs a few: this module sends the commands
as one packed buffer (``hiredis.pack_command``) on an :class:`asyncio.Protocol` and lets hiredis's
C parser cut the replies (≈15 µs; docs/operations.md, "Hot paths").

It only does what those paths need: plain pipelines (no MULTI, no scripts, so every command stands
alone and suits Redis Cluster), ``AUTH``/``SELECT`` from the URL, TLS (``rediss://``) and Unix
sockets, a bounded pool per event loop (:class:`~identity_service.storage.async_pool.AsyncPool`)
and a timeout on every round trip. Every failure — refused, reset, timed out, an error reply —
raises :class:`StoreUnavailable`; a connection whose round trip failed is closed, never reused. One
the server closed while idle (a restart) is dropped as soon as the event loop has seen it close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.connection import parse_url

from identity_service.storage.async_pool import AsyncPool, PoolExhausted
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
    """Up to ``max_connections`` connections to the Redis at ``url``, for one event loop."""

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
        self._timeout = timeout
        self._pool: AsyncPool[_Connection] = AsyncPool(self._connect, lambda c: c.closed, _Connection.close,
                                                       max_connections, timeout)

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` as one pipeline; their replies in order (error replies raise)."""
        try:
            connection = await self._pool.acquire()
        except PoolExhausted as exc:
            raise StoreUnavailable("redis: no free connection") from exc
        try:
            replies = await connection.execute(commands, self._timeout)
        except (OSError, TimeoutError, ConnectionError, hiredis.ProtocolError) as exc:
            self._pool.discard(connection)
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc
        except BaseException:
            self._pool.discard(connection)
            raise
        self._pool.release(connection)
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise StoreUnavailable(f"redis: {str(reply).split(' ', 1)[0]}")  # e.g. OOM, READONLY
        return replies

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
