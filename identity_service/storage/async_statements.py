"""Single SQL statements on the event loop, on PostgreSQL: asyncpg, no ORM.

The token endpoint's refresh rotation is one statement (oidc/refresh_tokens.py). Run from the
threadpool it cost a thread hop plus SQLAlchemy's execution machinery around psycopg; SQLAlchemy's
own asyncio engine measured no cheaper (≈450 µs of CPU per rotation), psycopg's ``AsyncConnection``
alone ≈120 µs, and asyncpg (binary protocol, its wire and type handling in Cython) ≈60 µs for the same
statement at the same concurrency (docs/operations.md, "Hot paths"). So the hot statements are plain
SQL on pooled asyncpg connections outside any transaction, as the blocking engine runs them
(:func:`~identity_service.storage.database.single_statement`): one round trip each, atomic on its own.

One pool per event loop (:class:`~identity_service.storage.async_pool.AsyncPool`, sized like the
blocking engine's), connecting to the same database as the engine; not asyncpg's own pool, which
sends a reset query (a round trip) on every release. asyncpg prepares a statement on a connection's
first use of it and keeps it in its statement cache. A connection failure, or no free connection
within the wait, raises :class:`DatabaseUnavailable` (answered 503); a connection whose statement
failed in any way is closed, never reused, and a lost connection closes the idle ones too. SQLite has
no asyncio driver here: the embedded stack keeps its threadpool path (:meth:`AsyncStatements.for_engine`
gives None).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Engine

from identity_service.storage.async_pool import AsyncPool, PoolExhausted
from identity_service.storage.database import DatabaseUnavailable

_CONNECT_TIMEOUT = 10
_POOL_TIMEOUT = 10  # as the blocking engine's pool_timeout
_RECYCLE = 1800  # as the blocking engine's pool_recycle
# SQLSTATE classes that say the server, not the statement, failed (psycopg reports them as
# OperationalError): connection exception, transaction rollback, insufficient resources, object not in
# prerequisite state, operator intervention (a shutdown), system error.
_UNAVAILABLE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})


class PositionalSql(NamedTuple):
    """A statement in asyncpg's ``$n`` style and the parameter name behind each ``$n``."""

    sql: str
    names: tuple[str, ...]


def positional_sql(statement: TextClause) -> PositionalSql:
    """A ``text()`` statement (``:name`` parameters) in asyncpg's style, so the blocking and the asyncio
    paths run one SQL text."""
    compiled = statement.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    return PositionalSql(str(compiled), tuple(compiled.positiontup or ()))


def _argument(value: object) -> object:
    # The tables' timestamps are ``timestamp without time zone`` holding UTC; asyncpg refuses aware
    # datetimes for them (psycopg sent them as timestamptz and the server converted).
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", ""))[:2] in _UNAVAILABLE_CLASSES
    return isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError))


class AsyncStatements:
    def __init__(self, dsn: str, pool_size: int) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._pools: tuple[asyncio.AbstractEventLoop, AsyncPool[asyncpg.Connection]] | None = None

    @classmethod
    def for_engine(cls, engine: Engine, pool_size: int) -> AsyncStatements | None:
        """Statements on the engine's database, or None when it is not PostgreSQL."""
        if engine.dialect.name != "postgresql":
            return None
        # asyncpg sends query options it does not know as server settings, which the server refuses:
        # libpq's connect_timeout is common in URLs, and ours applies anyway (_CONNECT_TIMEOUT).
        url = engine.url.set(drivername="postgresql").difference_update_query(["connect_timeout"])
        return cls(url.render_as_string(hide_password=False), pool_size)

    def _pool(self) -> AsyncPool[asyncpg.Connection]:
        loop = asyncio.get_running_loop()
        if self._pools is None or self._pools[0] is not loop:
            self._pools = (loop, AsyncPool(self._connect, lambda c: c.is_closed(), _close, self._pool_size,
                                           _POOL_TIMEOUT, recycle=_RECYCLE))
        return self._pools[1]

    async def _connect(self) -> asyncpg.Connection:
        try:
            connection = await asyncpg.connect(self._dsn, timeout=_CONNECT_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
        try:
            # JSON columns as Python values, as psycopg and SQLAlchemy return them (a catalog lookup, once).
            await connection.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        except BaseException as exc:
            _close(connection)
            if _unavailable(exc):
                raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
            raise
        return connection

    async def fetch_one(self, statement: PositionalSql, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run one statement; its first row (a dict by column name), or None."""
        pool = self._pool()
        try:
            connection = await pool.acquire()
        except PoolExhausted as exc:
            raise DatabaseUnavailable(f"postgresql: {exc}") from exc
        try:
            row = await connection.fetchrow(statement.sql, *[_argument(params[name]) for name in statement.names])
        except BaseException as exc:
            pool.discard(connection)
            if _unavailable(exc):
                # Most likely the server restarted or failed over: the idle connections are as dead as this
                # one. Drop them all, as SQLAlchemy invalidates its pool, so one request fails, not one per
                # connection.
                pool.close()
                raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
            raise
        pool.release(connection)
        return dict(row) if row is not None else None

    async def close(self) -> None:
        """Close this event loop's idle connections (at shutdown)."""
        if self._pools is not None and self._pools[0] is asyncio.get_running_loop():
            self._pools[1].close()
            self._pools = None


def _close(connection: asyncpg.Connection) -> None:
    # Closes the socket at once, without the await (and the round trip) of Connection.close().
    connection.terminate()
