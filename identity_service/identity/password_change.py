"""Changing a password from the account centre: the current one first, then NIST SP 800-63B policy.

Blocking (argon2id twice): call :func:`change_password` from the threadpool. Ending the citizen's
other sessions is the caller's job (sessions live in the web layer).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.identity.audit import record_event
from identity_service.security.passwords import PasswordHasher, check_password_policy
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, utcnow


class PasswordChangeRefused(Exception):
    """The change was refused; ``codes`` are message keys under ``error.`` (e.g. ``password.too_short``)."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def change_password(engine: Engine, hasher: PasswordHasher, account_id: str, current: str, new: str,
                    confirm: str) -> None:
    """Replace the password, or raise :class:`PasswordChangeRefused`. Audited as ``password.changed``."""
    with Session(engine) as session:
        row = session.exec(select(Account, Citizen).where(Account.id == account_id,
                                                          Citizen.cccd == Account.cccd)).first()
    if row is None or row[0].status != "active":
        raise PasswordChangeRefused(["password.current_wrong"])
    account, citizen = row
    if not hasher.verify(current, account.password_hash):
        with session_scope(engine) as db:
            record_event(db, "password.change_refused", account_id=account_id, reason="current_wrong")
        raise PasswordChangeRefused(["password.current_wrong"])
    birth = citizen.birth_date.isoformat().replace("-", "")
    problems = [f"password.{p}" for p in check_password_policy(new, (account.cccd, birth, birth[2:],
                                                                      account.phone[3:]))]
    if new != confirm:
        problems.append("password.mismatch")
    if new == current:
        problems.append("password.unchanged")
    if problems:
        raise PasswordChangeRefused(problems)
    password_hash = hasher.hash(new)
    with session_scope(engine) as db:
        stored = db.get(Account, account_id)
        if stored is None:
            raise PasswordChangeRefused(["password.current_wrong"])
        stored.password_hash = password_hash
        stored.updated_at = utcnow()
        db.add(stored)
        record_event(db, "password.changed", account_id=account_id)
