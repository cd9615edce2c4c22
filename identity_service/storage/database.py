"""Engine and session factory for the durable store (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine


class DatabaseUnavailable(Exception):
    """The database cannot be reached from the event loop (storage/async_statements.py); answered 503,
    as SQLAlchemy's OperationalError is on the blocking path."""


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
