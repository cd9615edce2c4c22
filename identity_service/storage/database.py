"""Engine and session factory for the durable store (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """Create a pooled engine. SQLite gets WAL and foreign keys; PostgreSQL a sized pool."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip on every checkout, several per request. A connection that
    # died (PostgreSQL restarted, failover) fails its statement instead; SQLAlchemy recognises the
    # disconnect and invalidates the whole pool, so one request per process answers 503 (app.py)
    # and the next ones reconnect. pool_recycle retires connections before middleboxes drop idle
    # ones. No overflow: connections opened and closed under bursts cost more than waiting for a
    # pooled one (pool_timeout), and the pool bounds what each process asks of PostgreSQL.
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=10, pool_recycle=1800,
                         pool_use_lifo=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any error (nothing half-written)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def single_statement(engine: Engine) -> Engine:
    """The same pool in autocommit mode, for hot paths whose unit of work is one statement (a lookup,
    a conditional UPDATE, an INSERT): one round trip each. In a transaction the driver would add a
    BEGIN and a COMMIT/ROLLBACK round trip to every statement. A single statement is atomic on its
    own, so this changes no guarantee; anything that writes two statements uses :func:`session_scope`.
    Make it once (in a constructor): each call makes a new engine proxy.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class AsyncDatabase:
    """PostgreSQL through psycopg's asyncio interface, for the few statements async handlers run on the
    event loop (userinfo's and introspection's account read): no threadpool hop. Autocommit, like
    :func:`single_statement`: each statement is its own round trip.

    An asyncio connection belongs to the loop that opened it. The first loop that asks gets the pool
    (``pool_size`` connections, no overflow, as :func:`make_engine`); a server has only that one. Any
    other loop (a test client started without its context manager) gets unpooled connections, opened
    and closed within each use, so none is left behind on a loop that has gone.
    """

    def __init__(self, url: str, pool_size: int) -> None:
        self._url = url
        self._pool_size = pool_size
        self._home: tuple[asyncio.AbstractEventLoop, AsyncEngine] | None = None
        self._strays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()

    @staticmethod
    def for_url(url: str, pool_size: int) -> AsyncDatabase | None:
        """PostgreSQL (psycopg 3) only; SQLite keeps the threadpool."""
        return AsyncDatabase(url, pool_size) if url.startswith("postgresql+psycopg://") else None

    def engine(self) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        if self._home is None:
            self._home = (loop, create_async_engine(
                self._url, pool_size=self._pool_size, max_overflow=0, pool_timeout=10, pool_recycle=1800,
                pool_use_lifo=True, isolation_level="AUTOCOMMIT"))
        if self._home[0] is loop:
            return self._home[1]
        stray = self._strays.get(loop)
        if stray is None:
            stray = self._strays[loop] = create_async_engine(self._url, poolclass=NullPool,
                                                             isolation_level="AUTOCOMMIT")
        return stray

    async def dispose(self) -> None:
        """Close the pool (from the loop that owns it: the application's shutdown)."""
        if self._home is not None and self._home[0] is asyncio.get_running_loop():
            await self._home[1].dispose()
            self._home = None
