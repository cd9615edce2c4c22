"""Append-only audit trail. Details carry identifiers and outcomes, never PII."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from identity_service.storage.models import AuditEvent


def record_event(
    session: Session, event: str, account_id: str | None = None, client_id: str | None = None, **details: Any
) -> AuditEvent:
    """Add an event to the caller's transaction (it is written only if the transaction commits)."""
    row = AuditEvent(event=event, account_id=account_id, client_id=client_id, details=details)
    session.add(row)
    return row
