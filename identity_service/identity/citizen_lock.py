"""A lock the citizen asks for (a lost phone, a leaked password): status ``locked``, reason
``citizen_request``. Unlocking is in person or from the registered device (the login page says how).
"""

from __future__ import annotations

from sqlmodel import select

from identity_service.identity.account_status import AccountAccess, StatusAction, apply_status_change
from identity_service.oidc.logout import LogoutDelivery
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account

CITIZEN_REQUEST = "citizen_request"


def lock_at_citizen_request(access: AccountAccess, account_id: str) -> list[LogoutDelivery] | None:
    """Lock an active account, then end its sessions and tokens; None when it was not active (nothing
    changes). Returns the back-channel logout tokens to deliver. Audited."""
    with session_scope(access.engine) as db:
        account = db.exec(select(Account).where(Account.id == account_id).with_for_update()).first()
        if account is None or account.status != "active":
            return None
        apply_status_change(db, account, StatusAction.LOCK, CITIZEN_REQUEST, channel="account_centre")
    return access.end(account_id, reason="account_locked")
