"""Accounts: password authentication and loading what tokens are issued for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine

from identity_service.identity.audit import record_event
from identity_service.identity.cccd import InvalidCccd, parse_cccd
from identity_service.oidc.tokens import TokenSubject
from identity_service.security.passwords import PasswordHasher
from identity_service.security.rate_limits import RateLimiter
from identity_service.storage.database import session_scope, single_statement
from identity_service.storage.models import Account, Citizen

_ACCOUNTS: Table = Account.__table__  # type: ignore[attr-defined]
_CITIZENS: Table = Citizen.__table__  # type: ignore[attr-defined]
# Built once: on hot paths, constructing the expression costs more CPU than running it.
_SUBJECT = core_select(_ACCOUNTS, _CITIZENS).join_from(_ACCOUNTS, _CITIZENS, _ACCOUNTS.c.cccd == _CITIZENS.c.cccd) \
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
_BY_CCCD = core_select(_ACCOUNTS).where(_ACCOUNTS.c.cccd == bindparam("cccd"))
_CCCD_OF = core_select(_ACCOUNTS.c.cccd).where(_ACCOUNTS.c.id == bindparam("account_id"))


class AuthenticationFailed(Exception):
    """Wrong number or password. One error for both: no user enumeration."""


class AccountLocked(Exception):
    """The account exists, the password was right, but it may not log in."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(f"account is {status}")
        self.status = status
        self.reason = reason


@dataclass
class AccountService:
    engine: Engine
    hasher: PasswordHasher
    limiter: RateLimiter | None = None

    def __post_init__(self) -> None:
        self._lookups = single_statement(self.engine)  # one round trip per read (storage/database.py)

    def authenticate(self, cccd: str, password: str) -> Account:
        """Check a CCCD number and password. Blocking (argon2id): call it from the threadpool.

        Raises :class:`RateLimited` while the number is in its back-off period, before any hashing.
        """
        key = cccd[:64]
        if self.limiter is not None:
            self.limiter.check_login(key)
        try:
            parse_cccd(cccd)
        except InvalidCccd:
            self.hasher.verify_dummy(password)
            self._failed(key, None)
            raise AuthenticationFailed() from None
        with self._lookups.connect() as connection:
            row = connection.execute(_BY_CCCD, {"cccd": cccd}).first()
        account = Account(**row._mapping) if row is not None else None
        if account is None:
            self.hasher.verify_dummy(password)
            self._failed(key, None)
            raise AuthenticationFailed()
        if not self.hasher.verify(password, account.password_hash):
            self._failed(key, account)
            raise AuthenticationFailed()
        if self.limiter is not None:
            self.limiter.login_succeeded(key)
        if account.status != "active":
            raise AccountLocked(account.status, account.status_reason)
        return account

    def _failed(self, key: str, account: Account | None) -> None:
        """Count the failure for the number (known or not: no enumeration); lock at the NIST ceiling."""
        failures = self.limiter.login_failed(key) if self.limiter is not None else 0
        if account is None:
            return
        with session_scope(self.engine) as session:
            record_event(session, "login.failed", account_id=account.id, consecutive=failures)
            if self.limiter is not None and self.limiter.should_lock(failures) and account.status == "active":
                row = session.get(Account, account.id)
                if row is not None:
                    row.status, row.status_reason = "locked", "too_many_failed_logins"
                    session.add(row)
                    record_event(session, "account.locked", account_id=account.id, reason="too_many_failed_logins")

    def cccd_of(self, account_id: str) -> str | None:
        """The account's CCCD number alone (for a masked display): one narrow statement, no models."""
        with self._lookups.connect() as connection:
            cccd: str | None = connection.execute(_CCCD_OF, {"account_id": account_id}).scalar()
        return cccd

    def load_subject(self, account_id: str) -> TokenSubject | None:
        """The account and its registry entry: one prepared statement, one round trip (every token,
        userinfo and introspection request reads it, so that locking takes effect at once)."""
        with self._lookups.connect() as connection:
            row = connection.execute(_SUBJECT, {"account_id": account_id}).first()
        if row is None:
            return None
        width = len(_ACCOUNTS.columns)
        account = Account(**dict(zip(_ACCOUNTS.columns.keys(), row[:width], strict=True)))
        citizen = Citizen(**dict(zip(_CITIZENS.columns.keys(), row[width:], strict=True)))
        return TokenSubject(account=account, citizen=citizen)
