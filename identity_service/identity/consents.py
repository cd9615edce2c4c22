"""Consents: the scopes a citizen has granted to a client (OIDC Core §3.1.2.4), read and written on
the login path with prebuilt Core statements (built once; building them per call costs more CPU than
running them). Withdrawal lives in ``connected_services.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection, Engine

from identity_service.identity.audit import event_row
from identity_service.storage.database import single_statement
from identity_service.storage.models import Consent, new_id, utcnow

_CONSENTS: Table = Consent.__table__  # type: ignore[attr-defined]
_FIND = select(_CONSENTS.c.id, _CONSENTS.c.scopes, _CONSENTS.c.withdrawn_at).where(
    _CONSENTS.c.account_id == bindparam("account_id"), _CONSENTS.c.client_id == bindparam("client_id"))
_INSERT = _CONSENTS.insert()
_RENEW = _CONSENTS.update().where(_CONSENTS.c.id == bindparam("consent_id")).values(
    scopes=bindparam("scopes"), granted_at=bindparam("granted_at"), withdrawn_at=None)


class Consents:
    def __init__(self, engine: Engine) -> None:
        self._lookups = single_statement(engine)  # one round trip per read

    def covers(self, account_id: str, client_id: str, scopes: list[str]) -> bool:
        """Whether a live (not withdrawn) consent of the account to the client includes every scope."""
        with self._lookups.connect() as connection:
            consent = connection.execute(_FIND, {"account_id": account_id, "client_id": client_id}).first()
        if consent is None or consent.withdrawn_at is not None:
            return False
        return set(scopes) <= set(consent.scopes.split())


def grant_consent(connection: Connection, account_id: str, client_id: str, scopes: list[str]) -> dict[str, Any]:
    """Add ``scopes`` to the account's consent to the client (a withdrawn consent starts again from
    them), in the caller's transaction. Returns the ``consent.granted`` audit row, which the caller
    inserts in that transaction with its own events, in one statement (:func:`insert_events`)."""
    consent = connection.execute(_FIND, {"account_id": account_id, "client_id": client_id}).first()
    if consent is None:
        connection.execute(_INSERT, {"id": new_id(), "account_id": account_id, "client_id": client_id,
                                     "scopes": " ".join(sorted(scopes)), "granted_at": utcnow(), "withdrawn_at": None})
    else:
        granted = set() if consent.withdrawn_at else set(consent.scopes.split())
        connection.execute(_RENEW, {"consent_id": consent.id, "granted_at": utcnow(),
                                    "scopes": " ".join(sorted(granted | set(scopes)))})
    return event_row("consent.granted", account_id=account_id, client_id=client_id, scopes=sorted(scopes))
