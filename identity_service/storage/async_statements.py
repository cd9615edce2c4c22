"""Single SQL statements on the event loop, on PostgreSQL: psycopg's asyncio driver, no ORM.

The token endpoint's refresh rotation is one statement (oidc/refresh_tokens.py). Run from the
threadpool it cost a thread hop plus SQLAlchemy's execution machinery around psycopg; SQLAlchemy's
own asyncio engine measured no cheaper (≈450 µs of CPU per rotation either way, against ≈130 µs for
psycopg's ``AsyncConnection`` alone: docs/operations.md, "Hot paths"). So the hot statements are
plain SQL run on pooled ``AsyncConnection``s in autocommit mode, as the blocking engine runs them
(:func:`~identity_service.storage.database.single_statement`): one round trip each, atomic on its own.

One pool per event loop (:class:`~identity_service.storage.async_pool.AsyncPool`, sized like the
blocking engine's), connecting to the same database as the engine. Each pooled connection keeps one
cursor and prepares the statement at once (``prepare=True``): a new cursor per statement and
psycopg's prepare-after-five bookkeeping cost ≈25 µs of CPU per statement. A connection failure, or no
free connection within the wait, raises :class:`DatabaseUnavailable` (answered 503); a connection
whose statement failed in any way is closed, never reused, and a lost connection closes the idle
ones too. SQLite has no asyncio driver here: the
embedded stack keeps its threadpool path (:meth:`AsyncStatements.for_engine` gives None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import Engine

from identity_service.storage.async_pool import AsyncPool, PoolExhausted
from identity_service.storage.database import DatabaseUnavailable

_CONNECT_TIMEOUT = 10
_POOL_TIMEOUT = 10  # as the blocking engine's pool_timeout
_RECYCLE = 1800  # as the blocking engine's pool_recycle

Cursor = psycopg.AsyncCursor[DictRow]


def psycopg_sql(statement: TextClause) -> str:
    """A ``text()`` statement (``:name`` parameters) in psycopg's ``%(name)s`` style, so the blocking
    and the asyncio paths run one SQL text."""
    return str(statement.compile(dialect=psycopg_dialect.dialect()))  # type: ignore[no-untyped-call]


class AsyncStatements:
    def __init__(self, conninfo: str, pool_size: int) -> None:
        self._conninfo = conninfo
        self._pool_size = pool_size
        self._pools: tuple[asyncio.AbstractEventLoop, AsyncPool[Cursor]] | None = None

    @classmethod
    def for_engine(cls, engine: Engine, pool_size: int) -> AsyncStatements | None:
        """Statements on the engine's database, or None when it is not PostgreSQL."""
        if engine.dialect.name != "postgresql":
            return None
        return cls(engine.url.set(drivername="postgresql").render_as_string(hide_password=False), pool_size)

    def _pool(self) -> AsyncPool[Cursor]:
        loop = asyncio.get_running_loop()
        if self._pools is None or self._pools[0] is not loop:
            self._pools = (loop, AsyncPool(self._connect, lambda c: c.connection.closed, _close, self._pool_size,
                                           _POOL_TIMEOUT, recycle=_RECYCLE))
        return self._pools[1]

    async def _connect(self) -> Cursor:
        try:
            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True,
                                                               row_factory=dict_row, connect_timeout=_CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
        return connection.cursor()

    async def fetch_one(self, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run one statement; its first row (a dict by column name), or None."""
        pool = self._pool()
        try:
            cursor = await pool.acquire()
        except PoolExhausted as exc:
            raise DatabaseUnavailable(f"postgresql: {exc}") from exc
        try:
            await cursor.execute(sql, params, prepare=True)
            row = await cursor.fetchone()
        except BaseException as exc:
            pool.discard(cursor)
            if isinstance(exc, psycopg.OperationalError):
                # Most likely the server restarted or failed over: the idle connections are as dead as this
                # one. Drop them all, as SQLAlchemy invalidates its pool, so one request fails, not one per
                # connection.
                pool.close()
                raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
            raise
        pool.release(cursor)
        return row

    async def close(self) -> None:
        """Close this event loop's idle connections (at shutdown)."""
        if self._pools is not None and self._pools[0] is asyncio.get_running_loop():
            self._pools[1].close()
            self._pools = None


def _close(cursor: Cursor) -> None:
    # What AsyncConnection.close() does for a connection outside psycopg's own pool, without the await.
    cursor.connection.pgconn.finish()
