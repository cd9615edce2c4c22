"""The citizen's access history: which service received which data, and when, from the audit log.

Keyset pagination on ``(at, id)`` over the ``(account_id, at)`` index: every page costs the same,
however far back the citizen reads, and the page size is bounded. Only this account's events of the
kinds below are ever returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.storage.models import AuditEvent, Client

# authorization.code_issued names the claims the granted scopes release (oidc/authorization.py).
HISTORY_EVENTS = ("authorization.code_issued", "consent.granted", "consent.withdrawn")
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """A position in the history: the ``(at, id)`` of an event."""

    at: datetime
    id: int

    def encode(self) -> str:
        # Integer microseconds: a float timestamp would round, and the keyset comparison is exact.
        return f"{(_aware(self.at) - _EPOCH) // _MICROSECOND}.{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """The cursor, or None for anything malformed (the first page is shown instead)."""
        if not value or len(value) > 30:
            return None
        micros, _, event_id = value.partition(".")
        if not (micros.isdigit() and event_id.isdigit()):
            return None
        try:
            at = _EPOCH + int(micros) * _MICROSECOND
        except (OverflowError, OSError, ValueError):
            return None
        return cls(at=at, id=int(event_id))


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: datetime
    event: str
    client_id: str | None
    client_name: str | None
    scopes: tuple[str, ...]
    claims: tuple[str, ...]


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    older: str | None  # cursor for the next (older) page
    newer: str | None  # cursor for the previous (newer) page


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def history_page(engine: Engine, account_id: str, before: Cursor | None = None, after: Cursor | None = None,
                 size: int = PAGE_SIZE) -> HistoryPage:
    """Newest first. ``before``: the page of events older than it; ``after``: newer than it."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    query = select(AuditEvent, Client.name).join(Client, col(Client.client_id) == AuditEvent.client_id, isouter=True)
    query = query.where(AuditEvent.account_id == account_id, col(AuditEvent.event).in_(HISTORY_EVENTS))
    at, event_id = col(AuditEvent.at), col(AuditEvent.id)
    if after is not None:
        query = query.where(or_(at > after.at, and_(at == after.at, event_id > after.id)))
        query = query.order_by(at.asc(), event_id.asc())
    else:
        if before is not None:
            query = query.where(or_(at < before.at, and_(at == before.at, event_id < before.id)))
        query = query.order_by(at.desc(), event_id.desc())
    with Session(engine) as session:
        rows = list(session.exec(query.limit(size + 1)).all())
    more = len(rows) > size
    rows = rows[:size]
    if after is not None:
        rows.reverse()
    entries = [HistoryEntry(id=event.id or 0, at=_aware(event.at), event=event.event, client_id=event.client_id,
                            client_name=name, scopes=_strings(event.details.get("scopes")),
                            claims=_strings(event.details.get("claims")))
               for event, name in rows]
    if not entries:
        return HistoryPage([], None, None)
    first, last = Cursor(entries[0].at, entries[0].id), Cursor(entries[-1].at, entries[-1].id)
    has_older = more if after is None else True
    has_newer = (before is not None) if after is None else more
    return HistoryPage(entries, older=last.encode() if has_older else None,
                       newer=first.encode() if has_newer else None)
