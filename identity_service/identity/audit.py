"""Append-only audit trail. Details carry identifiers and outcomes, never PII."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from identity_service.storage.database import single_statement
from identity_service.storage.models import AuditEvent, utcnow

_AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: on hot paths, constructing the expression costs more CPU than running it.
_INSERT_EVENT = _AUDIT_EVENTS.insert()


def record_event(
    session: Session, event: str, account_id: str | None = None, client_id: str | None = None, **details: Any
) -> AuditEvent:
    """Add an event to the caller's transaction (it is written only if the transaction commits)."""
    row = AuditEvent(event=event, account_id=account_id, client_id=client_id, details=details)
    session.add(row)
    return row


def event_row(event: str, account_id: str | None = None, client_id: str | None = None,
              **details: Any) -> dict[str, Any]:
    """The same row as :func:`record_event`, for :func:`insert_events`."""
    return {"at": utcnow(), "event": event, "account_id": account_id, "client_id": client_id, "details": details}


def insert_events(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of :func:`event_row` as one Core INSERT on ``connection`` (inside the caller's transaction,
    or on its own in autocommit), one round trip however many (psycopg pipelines an executemany).
    For hot paths: no ORM unit of work."""
    connection.execute(_INSERT_EVENT, list(rows))


def insert_event(connection: Connection, event: str, account_id: str | None = None, client_id: str | None = None,
                 **details: Any) -> None:
    """One event with :func:`insert_events`."""
    insert_events(connection, [event_row(event, account_id, client_id, **details)])


class AuditTrail:
    """Appends events that stand alone (a login, a code issued): one INSERT, one round trip each.

    A single INSERT is atomic by itself, so autocommit loses nothing against a BEGIN/COMMIT around it
    (storage/database.py :func:`single_statement`); events that must commit together with other
    writes go through :func:`record_event` or :func:`insert_event` in that transaction instead.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = single_statement(engine)

    def append(self, event: str, account_id: str | None = None, client_id: str | None = None,
               **details: Any) -> None:
        with self._engine.connect() as connection:
            insert_event(connection, event, account_id, client_id, **details)
