"""Locking, unlocking and revoking accounts, and what that does to the account's live access.

The reasons are the cases the law names for suspending or revoking an electronic identity account
(Decree 69/2024/NĐ-CP, Art. 17-18): the citizen asks for it, the card is revoked, the person died,
or a competent authority asks for it. ``revoked`` is final; ``locked`` can be undone at a desk.

The status change and its audit event are one transaction (:func:`apply_status_change`); the
effects on live access (:meth:`AccountAccess.end`) run after it commits: every browser session of
the account ends, every refresh-token family (with the access tokens issued from it) is revoked,
and every client that signed in through one of those sessions gets a back-channel logout token
(OpenID Connect Back-Channel Logout 1.0 §2.5) for the caller to deliver. If those effects fail
half-way the account is still locked, and every token check refuses a non-active account anyway
(introspection, userinfo, token grants).

Three callers change a status, all through :func:`apply_status_change`: a registration desk
(:func:`change_status_at_desk`, idempotent on its ``request_id``), an operator on the command line
(:func:`change_status_by_operator`) and the citizen (``identity/citizen_lock.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from identity_service.identity.audit import record_event
from identity_service.identity.level_evidence import RegistrarRequest
from identity_service.identity.registrar_requests import IdempotentRequest
from identity_service.identity.session_cutoff import cut_off_sessions
from identity_service.oidc.logout import LogoutDelivery
from identity_service.oidc.refresh_tokens import RefreshTokenStore
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account, RefreshToken, utcnow

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
    logouts: tuple[LogoutDelivery, ...] = ()  # back-channel logout tokens for the caller to deliver


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
    account.updated_at = utcnow()
    session.add(account)
    event = record_event(session, _EVENTS[action], account_id=account.id, client_id=client_id,
                         reason=reason, previous_status=previous, **audit)
    return StatusOutcome(action, account.status, account.status_reason, event.at)


SessionsEnder = Callable[[str, str], list[LogoutDelivery]]
"""``(account_id, audit event) → deliveries``: ends every indexed browser session of the account and
builds a logout token for each client that signed in through it (``web/account_actions.py``)."""


def session_end_event(reason: str) -> str:
    """The audit event for sessions ended because of ``reason`` (``account_locked`` → ``session.ended_locked``)."""
    return "session.ended_" + reason.removeprefix("account_")


@dataclass
class AccountAccess:
    """Ends an account's live access: browser sessions, refresh tokens and the access tokens with them."""

    engine: Engine
    store: EphemeralStore
    refresh_tokens: RefreshTokenStore
    session_ttl: int
    end_sessions: SessionsEnder | None = None  # wired by services.py; None: sessions are cut off silently

    def end(self, account_id: str, reason: str) -> list[LogoutDelivery]:
        """Call after the transaction that locked, revoked or downgraded the account has committed;
        returns the back-channel logout tokens to deliver (after the response, never blocking it)."""
        # The indexed sessions first, while they can still say which clients they signed in to; the
        # cut-off then ends any session the index missed (it only counts sessions started before now).
        deliveries = self.end_sessions(account_id, session_end_event(reason)) if self.end_sessions else []
        cut_off_sessions(self.store, account_id, self.session_ttl)
        self.revoke_refresh_families(account_id, reason)
        return deliveries

    def revoke_refresh_families(self, account_id: str, reason: str, keep_sid: str | None = None) -> None:
        """Revoke every live refresh-token family of the account, except those of session ``keep_sid``.

        Families outlive their browser session (30 days against 8 hours), so ending sessions is not
        enough: a token held by a thief would work again after an unlock or with the new password.
        """
        query = select(RefreshToken.family_id).where(
            RefreshToken.account_id == account_id, col(RefreshToken.revoked_at).is_(None))
        if keep_sid is not None:
            query = query.where(or_(col(RefreshToken.sid).is_(None), RefreshToken.sid != keep_sid))
        with Session(self.engine) as session:
            families = set(session.exec(query).all())
        for family in sorted(families):
            # RFC 7009 §2.1 spirit: the access tokens issued with a refresh token go with it.
            self.refresh_tokens.revoke_family(family, reason=reason, account_id=account_id)


class AccountNotFound(StatusChangeRefused):
    pass


def _ended(access: AccountAccess, account_id: str, outcome: StatusOutcome) -> StatusOutcome:
    if outcome.action is StatusAction.UNLOCK:
        return outcome
    return replace(outcome, logouts=tuple(access.end(account_id, reason=f"account_{outcome.status}")))


def change_status_at_desk(access: AccountAccess, cccd: str, action: StatusAction, reason: str | None,
                          request: RegistrarRequest,
                          idempotency: IdempotentRequest[StatusOutcome] | None = None) -> StatusOutcome:
    """A registrar's lock/unlock/revoke in one transaction, with its recorded answer (``idempotency``).

    Raises ``AlreadyAnswered`` (replay the recorded answer) or ``RequestIdReused`` from
    :mod:`identity_service.identity.registrar_requests`, or :class:`StatusChangeRefused`.
    """
    try:
        with session_scope(access.engine) as session:
            # FOR UPDATE (PostgreSQL): two copies of one request serialise here; the second then sees
            # the first's recorded answer (READ COMMITTED: each statement reads what has committed).
            account = session.exec(select(Account).where(Account.cccd == cccd).with_for_update()).first()
            if idempotency is not None:
                idempotency.check(session)
            if account is None:
                raise AccountNotFound("account_not_found", "No account exists for this number.")
            outcome = apply_status_change(session, account, action, reason, client_id=request.client_id,
                                          request_id=request.request_id, officer_id=request.officer_id,
                                          desk_id=request.desk_id, channel="registrar")
            if idempotency is not None:
                idempotency.record(session, account.id, outcome)
            account_id = account.id
    except IntegrityError:
        if idempotency is None:
            raise
        # Another request with this request_id (for another account: no row lock to wait on) won.
        with Session(access.engine) as session:
            idempotency.settle_race(session)
        raise
    return _ended(access, account_id, outcome)


OPERATOR = "operator"


def change_status_by_operator(access: AccountAccess, cccd: str, action: StatusAction,
                              reason: str | None) -> StatusOutcome:
    """An operator's lock/unlock from the command line: the same rules and effects, audited as ``operator``."""
    with session_scope(access.engine) as session:
        account = session.exec(select(Account).where(Account.cccd == cccd).with_for_update()).first()
        if account is None:
            raise AccountNotFound("account_not_found", "No account exists for this number.")
        outcome = apply_status_change(session, account, action, reason, actor=OPERATOR, channel="cli")
        account_id = account.id
    return _ended(access, account_id, outcome)
