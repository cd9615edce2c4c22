"""The event loop's PostgreSQL statements (storage/async_statements.py, on asyncpg) against the real
server: values as the blocking engine reads and writes them, and which failures are a 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
import uvloop
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from identity_service.storage.async_statements import AsyncStatements, positional_sql
from identity_service.storage.database import DatabaseUnavailable

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Both event loops the provider may run on (uvicorn picks uvloop when it is installed)."""
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[no-any-return]


@pytest.fixture
def statements(pg_engine: Engine) -> AsyncStatements:
    found = AsyncStatements.for_engine(pg_engine, pool_size=2)
    assert found is not None
    return found


_ECHO = positional_sql(text("SELECT CAST(:at AS timestamp) AS at, CAST(:amr AS json) AS amr, :name AS name"))


def test_named_parameters_aware_datetimes_and_json_as_the_blocking_engine_has_them(statements: AsyncStatements,
                                                                                     run: Run) -> None:
    # The tables' timestamps hold UTC without a zone; JSON values go and come back as Python values.
    at = datetime(2026, 1, 2, 10, 0, tzinfo=timezone(timedelta(hours=7)))

    async def scenario() -> dict[str, Any] | None:
        try:
            return await statements.fetch_one(_ECHO, {"name": "n", "amr": ["pwd", "otp"], "at": at})
        finally:
            await statements.close()

    assert run(scenario()) == {"at": datetime(2026, 1, 2, 3, 0), "amr": ["pwd", "otp"], "name": "n"}


def test_a_connection_the_server_ends_is_a_503_and_the_next_statement_reconnects(statements: AsyncStatements,
                                                                                 run: Run) -> None:
    ends_itself = positional_sql(text("SELECT pg_terminate_backend(pg_backend_pid()) AS ended"))
    one = positional_sql(text("SELECT 1 AS one"))

    async def scenario() -> dict[str, Any] | None:
        try:
            with pytest.raises(DatabaseUnavailable):
                await statements.fetch_one(ends_itself, {})
            return await statements.fetch_one(one, {})
        finally:
            await statements.close()

    assert run(scenario()) == {"one": 1}


def test_an_error_of_the_statement_itself_is_not_a_503_and_the_connection_is_not_reused(
        statements: AsyncStatements, run: Run) -> None:
    failing = positional_sql(text("SELECT 1 / CAST(:zero AS integer) AS x"))
    backend = positional_sql(text("SELECT pg_backend_pid() AS pid"))

    async def scenario() -> tuple[object, object]:
        try:
            before = await statements.fetch_one(backend, {})
            with pytest.raises(asyncpg.DivisionByZeroError):
                await statements.fetch_one(failing, {"zero": 0})
            after = await statements.fetch_one(backend, {})
            assert before is not None and after is not None
            return before["pid"], after["pid"]
        finally:
            await statements.close()

    before, after = run(scenario())
    assert before != after  # its state unknown after a failure, the connection was closed, not pooled


def test_a_database_url_with_libpq_s_connect_timeout_still_connects(pg_engine: Engine, run: Run) -> None:
    # asyncpg would send the option to the server as a setting, which refuses it: every rotation a 503.
    engine = create_engine(pg_engine.url.update_query_dict({"connect_timeout": "5"}))
    statements = AsyncStatements.for_engine(engine, pool_size=1)
    assert statements is not None

    async def scenario() -> dict[str, Any] | None:
        try:
            return await statements.fetch_one(positional_sql(text("SELECT 1 AS one")), {})
        finally:
            await statements.close()

    assert run(scenario()) == {"one": 1}
    engine.dispose()
