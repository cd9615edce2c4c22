"""The Alembic migrations create exactly the schema the SQLModel models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from identity_service.storage import models  # noqa: F401  (registers the tables)
from identity_service.storage.migrations import upgrade_database


def test_migrations_create_every_model_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade_database(engine.url.render_as_string(hide_password=False))
    assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
