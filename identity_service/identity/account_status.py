"""Locking, unlocking and revoking accounts, and what that does to the account's live access.

The reasons are the cases the law names for suspending or revoking an electronic identity account
(Decree 69/2024/NĐ-CP, Art. 17-18): the citizen asks for it, the card is revoked, the person died,
or a competent authority asks for it. ``revoked`` is final; ``locked`` can be undone at a desk.

The status change and its audit event are one transaction (:func:`apply_status_change`); the
effects on live access (:meth:`AccountAccess.end`) run after it commits: every browser session of
the account ends and every refresh-token family (with the access tokens issued from it) is revoked.
If those effects fail half-way the account is still locked, and every token check refuses a
non-active account anyway (introspection, userinfo, token grants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.identity.level_evidence import RegistrarRequest
from identity_service.identity.session_cutoff import cut_off_sessions
from identity_service.oidc.refresh_tokens import RefreshTokenStore
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account, AuditEvent, RefreshToken

STATUS_REASONS = ("citizen_request", "card_revoked", "deceased", "authority_request")


class StatusAction(StrEnum):
    LOCK = "lock"
    UNLOCK = "unlock"
    REVOKE = "revoke"


_RESULTING_STATUS = {StatusAction.LOCK: "locked", StatusAction.UNLOCK: "active", StatusAction.REVOKE: "revoked"}
_EVENTS = {StatusAction.LOCK: "account.locked", StatusAction.UNLOCK: "account.unlocked",
           StatusAction.REVOKE: "account.revoked"}


class StatusChangeRefused(Exception):
    """The change does not apply to the account as it is; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class StatusOutcome:
    """What a status change did (or, for a replayed request, did the first time)."""

    action: StatusAction
    status: str
    reason: str | None
    recorded_at: datetime
    replayed: bool = False


def check_transition(account: Account, action: StatusAction, reason: str | None) -> None:
    """Raise :class:`StatusChangeRefused` unless ``action`` may be applied to ``account`` now."""
    if account.status == "revoked":
        raise StatusChangeRefused("account_revoked", "A revoked account cannot change status.")
    if action is StatusAction.UNLOCK:
        if account.status != "locked":
            raise StatusChangeRefused("account_not_locked", "The account is not locked.")
        if account.status_reason == "deceased":
            raise StatusChangeRefused("deceased", "The account holder is recorded as deceased.")
        return
    if reason not in STATUS_REASONS:
        raise StatusChangeRefused("invalid_reason", f"The reason must be one of {', '.join(STATUS_REASONS)}.")
    if action is StatusAction.LOCK and account.status == "locked" and account.status_reason == reason:
        raise StatusChangeRefused("account_already_locked", "The account is already locked for this reason.")


def apply_status_change(session: Session, account: Account, action: StatusAction, reason: str | None,
                        client_id: str | None = None, **audit: Any) -> StatusOutcome:
    """Change the status in the caller's transaction and add its audit event (no PII in ``audit``)."""
    check_transition(account, action, reason)
    previous = account.status
    account.status = _RESULTING_STATUS[action]
    account.status_reason = None if action is StatusAction.UNLOCK else reason
    session.add(account)
    event = record_event(session, _EVENTS[action], account_id=account.id, client_id=client_id,
                         reason=reason, previous_status=previous, **audit)
    return StatusOutcome(action, account.status, account.status_reason, event.at)


def find_replayed_status_request(session: Session, account_id: str, client_id: str,
                                 request_id: str) -> AuditEvent | None:
    """The audit event a registrar's earlier request with this ``request_id`` wrote for this account.

    The account's events are few and indexed by account, so the JSON ``details`` are read here
    rather than queried (the same code on SQLite and PostgreSQL).
    """
    events = session.exec(select(AuditEvent).where(
        AuditEvent.account_id == account_id, AuditEvent.client_id == client_id,
        col(AuditEvent.event).in_(list(_EVENTS.values())))).all()
    return next((e for e in events if e.details.get("request_id") == request_id), None)


def outcome_of(event: AuditEvent) -> StatusOutcome:
    """The outcome an earlier status event recorded (the answer to a replayed request)."""
    action = next(a for a, name in _EVENTS.items() if name == event.event)
    reason = None if action is StatusAction.UNLOCK else event.details.get("reason")
    return StatusOutcome(action, _RESULTING_STATUS[action], reason, event.at, replayed=True)


@dataclass
class AccountAccess:
    """Ends an account's live access: browser sessions, refresh tokens and the access tokens with them."""

    engine: Engine
    store: EphemeralStore
    refresh_tokens: RefreshTokenStore
    session_ttl: int

    def end(self, account_id: str, reason: str) -> None:
        """Call after the transaction that locked, revoked or downgraded the account has committed."""
        cut_off_sessions(self.store, account_id, self.session_ttl)
        with Session(self.engine) as session:
            families = set(session.exec(select(RefreshToken.family_id).where(
                RefreshToken.account_id == account_id, col(RefreshToken.revoked_at).is_(None))).all())
        for family in sorted(families):
            # RFC 7009 §2.1 spirit: the access tokens issued with a refresh token go with it.
            self.refresh_tokens.revoke_family(family, reason=reason, account_id=account_id)


class AccountNotFound(StatusChangeRefused):
    pass


class RequestIdReused(StatusChangeRefused):
    pass


def change_status_at_desk(access: AccountAccess, cccd: str, action: StatusAction, reason: str | None,
                          request: RegistrarRequest) -> StatusOutcome:
    """A registrar's lock/unlock/revoke: one transaction, idempotent on ``request.request_id``."""
    with session_scope(access.engine) as session:
        # FOR UPDATE (PostgreSQL): two copies of one request serialise here; the second sees the first's event.
        account = session.exec(select(Account).where(Account.cccd == cccd).with_for_update()).first()
        if account is None:
            raise AccountNotFound("account_not_found", "No account exists for this number.")
        earlier = find_replayed_status_request(session, account.id, request.client_id, request.request_id)
        if earlier is not None:
            if earlier.event != _EVENTS[action] or (action is not StatusAction.UNLOCK
                                                    and earlier.details.get("reason") != reason):
                raise RequestIdReused("request_id_reused", "This request_id was used for a different request.")
            return outcome_of(earlier)
        outcome = apply_status_change(session, account, action, reason, client_id=request.client_id,
                                      request_id=request.request_id, officer_id=request.officer_id,
                                      desk_id=request.desk_id, channel="registrar")
        account_id = account.id
    if action is not StatusAction.UNLOCK:
        access.end(account_id, reason=f"account_{outcome.status}")
    return outcome
