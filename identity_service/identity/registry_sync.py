"""Level goes down when the registry says the card or the person no longer stands behind it.

Level 2 means "equivalent to presenting the chip card" (Decree 69/2024/NĐ-CP Art. 12): when the
card expires or is revoked, the account falls back to level 1; when the person is recorded as
deceased the account is revoked (reason ``deceased``, Art. 18) whatever its level. Either change
is one transaction per account (change + audit event); then the account's sessions and tokens end,
so no level-2 authentication outlives its card, and every client that signed in through one of those
sessions gets a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.5: the session
at the OP ended, whatever the reason).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.account_status import AccountAccess, StatusAction, apply_status_change
from identity_service.identity.audit import record_event
from identity_service.oidc.logout import LogoutDelivery
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, utcnow

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """How many accounts each rule changed (``level_lowered:card_expired``, ``revoked:deceased``)."""

    changes: Counter[str] = field(default_factory=Counter)
    logouts: list[LogoutDelivery] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.changes.values())


def registry_verdict(account: Account, citizen: Citizen, today: date) -> str | None:
    """What the registry now requires of ``account``: ``deceased``, ``card_revoked``, ``card_expired``
    (level 2 only) or None."""
    if citizen.deceased and account.status != "revoked":
        return "deceased"
    if account.level == 2 and account.status != "revoked":
        if citizen.card_status != "valid":
            return "card_revoked"
        if citizen.card_expiry < today:
            return "card_expired"
    return None


def _candidates(session: Session, today: date, after: str, batch: int) -> list[str]:
    """Ids of accounts some rule may apply to, in id order after ``after`` (keyset pagination)."""
    query = (select(Account.id).join(Citizen, col(Citizen.cccd) == col(Account.cccd))
             .where(col(Account.id) > after, col(Account.status) != "revoked",
                    or_(col(Citizen.deceased).is_(True),
                        and_(col(Account.level) == 2,
                             or_(col(Citizen.card_status) != "valid", col(Citizen.card_expiry) < today))))
             .order_by(col(Account.id)).limit(batch))
    return list(session.exec(query).all())


def _apply(engine: Engine, account_id: str, today: date) -> str | None:
    """Re-check one account under a row lock and apply the rule; returns the change made."""
    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.id == account_id).with_for_update()).first()
        citizen = session.get(Citizen, account.cccd) if account is not None else None
        if account is None or citizen is None:
            return None
        verdict = registry_verdict(account, citizen, today)
        if verdict == "deceased":
            apply_status_change(session, account, StatusAction.REVOKE, "deceased", channel="registry_sync")
            return "revoked:deceased"
        if verdict is not None:
            account.level, account.updated_at = 1, utcnow()
            session.add(account)
            record_event(session, "account.level_lowered", account_id=account.id, level=1, previous_level=2,
                         reason=verdict, channel="registry_sync")
            return f"level_lowered:{verdict}"
    return None


Notify = Callable[[list[LogoutDelivery]], object]


def sync_with_registry(engine: Engine, access: AccountAccess, today: date | None = None,
                       batch: int = 500, notify: Notify | None = None) -> SyncReport:
    """Apply the registry's verdict to every account it concerns; safe to run again at any time.

    ``notify`` receives the back-channel logout tokens of each batch as soon as it is done (they are
    valid for two minutes, so a long sync delivers as it goes); all of them are also in the report.
    """
    today = today or date.today()
    report = SyncReport()
    after = ""
    while True:
        with Session(engine) as session:
            ids = _candidates(session, today, after, batch)
        if not ids:
            break
        logouts: list[LogoutDelivery] = []
        for account_id in ids:
            change = _apply(engine, account_id, today)
            if change is not None:
                report.changes[change] += 1
                logouts += access.end(account_id, reason="account_" + change.split(":")[0])
        if logouts and notify is not None:
            notify(logouts)
        report.logouts += logouts
        after = ids[-1]
    log.info("registry sync changed %d account(s)", report.total)
    return report
