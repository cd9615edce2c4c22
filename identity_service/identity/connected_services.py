"""Connected services: the clients a citizen has consented to, and withdrawing that consent.

Withdrawal is one transaction: the consent is marked withdrawn (the row stays, for the record),
every live refresh token the client holds for the account is revoked, and ``consent.withdrawn`` is
audited. The caller then revokes the families' access tokens in the ephemeral store and tells the
client through back-channel logout (those steps need the protocol layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.storage.database import session_scope
from identity_service.storage.models import Client, Consent, RefreshToken, utcnow


@dataclass(frozen=True)
class ConnectedService:
    client_id: str
    client_name: str
    scopes: tuple[str, ...]
    granted_at: datetime


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal revoked: the refresh-token families whose access tokens must die too."""

    client_id: str
    families: tuple[str, ...]


def connected_services(engine: Engine, account_id: str) -> list[ConnectedService]:
    """Clients holding a live consent from the account, most recently granted first."""
    with Session(engine) as session:
        rows = session.exec(
            select(Consent, Client).where(Consent.account_id == account_id, col(Consent.withdrawn_at).is_(None),
                                          Client.client_id == Consent.client_id)
            .order_by(col(Consent.granted_at).desc())
        ).all()
    return [ConnectedService(client.client_id, client.name, tuple(consent.scopes.split()), consent.granted_at)
            for consent, client in rows]


def connected_service(engine: Engine, account_id: str, client_id: str) -> ConnectedService | None:
    """One live consent of the account (for the confirmation page), or None."""
    return next((s for s in connected_services(engine, account_id) if s.client_id == client_id), None)


def withdraw_consent(engine: Engine, account_id: str, client_id: str) -> Withdrawal | None:
    """Withdraw the account's consent to ``client_id``; None when there is no live consent."""
    with session_scope(engine) as session:
        consent = session.exec(select(Consent).where(
            Consent.account_id == account_id, Consent.client_id == client_id,
            col(Consent.withdrawn_at).is_(None))).first()
        if consent is None:
            return None
        now = utcnow()
        consent.withdrawn_at = now
        session.add(consent)
        live = (col(RefreshToken.account_id) == account_id, col(RefreshToken.client_id) == client_id,
                col(RefreshToken.revoked_at).is_(None))
        families = tuple(sorted(set(session.exec(select(RefreshToken.family_id).where(*live)).all())))
        session.execute(update(RefreshToken).where(*live).values(revoked_at=now))
        record_event(session, "consent.withdrawn", account_id=account_id, client_id=client_id,
                     scopes=consent.scopes.split(), revoked_families=len(families))
    return Withdrawal(client_id=client_id, families=families)
