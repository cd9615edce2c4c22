"""A lock the citizen asks for (a lost phone, a leaked password): status ``locked``, reason
``citizen_request``. Unlocking is in person or from the registered device (the login page says how).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from identity_service.identity.audit import record_event
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, utcnow

CITIZEN_REQUEST = "citizen_request"


def lock_at_citizen_request(engine: Engine, account_id: str) -> bool:
    """Lock an active account; False when it was not active (nothing changes). Audited."""
    with session_scope(engine) as db:
        account = db.get(Account, account_id)
        if account is None or account.status != "active":
            return False
        account.status, account.status_reason = "locked", CITIZEN_REQUEST
        account.updated_at = utcnow()
        db.add(account)
        record_event(db, "account.locked", account_id=account_id, reason=CITIZEN_REQUEST)
    return True
