"""First password for an account a registration desk created (it never had one).

The desk never sees or sets a password. After creating the account, the service sends an 8-digit
activation code by SMS to the phone the citizen gave at the desk; the citizen (in the app, through
``POST /api/activation``) proves the code together with the CCCD number and chooses a password.
Codes are one-time, hashed, and burn after a few wrong tries (NIST SP 800-63B §5.1.3); only
an account still waiting for activation can be activated, so the code cannot reset a password.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.identity.level_evidence import UNUSABLE_PASSWORD
from identity_service.identity.otp import OtpError, OtpService
from identity_service.identity.sms import SmsSender, SmsUnavailable
from identity_service.security.passwords import PasswordHasher, check_password_policy
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account, Citizen, utcnow

log = logging.getLogger(__name__)
_PURPOSE = "activate"
ACTIVATION_TTL = 72 * 3600


class ActivationFailed(Exception):
    """Unknown number, no pending activation, or a wrong/expired code: one answer for all."""

    code = "activation.invalid"


class ActivationWeakPassword(Exception):
    code = "password.weak"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("password refused: " + ", ".join(problems))
        self.problems = problems


class Activations:
    def __init__(self, engine: Engine, store: EphemeralStore, sms: SmsSender, hasher: PasswordHasher) -> None:
        self.engine = engine
        self.sms = sms
        self.hasher = hasher
        self.otp = OtpService(store, ttl=ACTIVATION_TTL, max_attempts=5, digits=8)

    @staticmethod
    def _pending_account(session: Session, account_id: str) -> Account | None:
        """The account while it has no password yet (created at a desk, not activated)."""
        account = session.get(Account, account_id)
        if account is None or account.password_hash != UNUSABLE_PASSWORD or account.status != "active":
            return None
        return account

    def send_code(self, account_id: str) -> bool:
        """Issue a code and text it to the phone recorded on the account; False when none is pending.

        Only ever the account's own phone: a request can never redirect the code elsewhere. Every send
        is audited. Raises ``SmsUnavailable`` or ``OtpResendTooSoon``.
        """
        with session_scope(self.engine) as session:
            account = self._pending_account(session, account_id)
            if account is None:
                return False
            phone = account.phone
            code = self.otp.issue(_PURPOSE, account_id)
            record_event(session, "account.activation_code_sent", account_id=account_id)
        self.sms.send(phone, f"Tài khoản định danh điện tử mức 2 của bạn đã được tạo. Mã kích hoạt: {code} "
                             f"(hiệu lực {ACTIVATION_TTL // 3600} giờ). Không chia sẻ mã này cho bất kỳ ai.")
        log.info("activation code sent")
        return True

    def resend(self, cccd: str) -> None:
        """Text a new code to the phone on record if ``cccd``'s account waits for activation.

        Says nothing either way (no enumeration); a code burnt by someone else's wrong guesses is
        replaced this way without a trip back to the desk. Blocking: call from a thread.
        """
        with Session(self.engine) as session:
            account_id = session.exec(select(Account.id).where(Account.cccd == cccd)).first()
        if account_id is None:
            return
        try:
            self.send_code(account_id)
        except (OtpError, SmsUnavailable) as exc:
            log.info("activation code not re-sent: %s", type(exc).__name__)

    def activate(self, cccd: str, code: str, password: str) -> Account:
        """Check the code, then set the first password (blocking: argon2id; call from a thread)."""
        # The general policy first: a weak password must not reveal whether an activation is pending.
        if problems := check_password_policy(password, (cccd,)):
            raise ActivationWeakPassword(problems)
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.exec(select(Account, Citizen).where(Account.cccd == cccd,
                                                                Citizen.cccd == Account.cccd)).first()
        if found is None or found[0].password_hash != UNUSABLE_PASSWORD or found[0].status != "active":
            raise ActivationFailed("no activation is pending for this number")
        account, citizen = found
        birth = citizen.birth_date.isoformat().replace("-", "")
        if problems := check_password_policy(password, (birth, birth[2:], account.phone[3:])):
            raise ActivationWeakPassword(problems)
        try:
            self.otp.verify(_PURPOSE, account.id, code)
        except OtpError as exc:
            raise ActivationFailed(str(exc)) from exc
        password_hash = self.hasher.hash(password)
        with session_scope(self.engine) as db:
            # Conditional: only the first activation sets the password.
            changed = db.execute(update(Account).where(col(Account.id) == account.id,
                                                       col(Account.password_hash) == UNUSABLE_PASSWORD)
                                 .values(password_hash=password_hash, updated_at=utcnow()))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ActivationFailed("the account is already activated")
            record_event(db, "account.activated", account_id=account.id)
        account.password_hash = password_hash
        return account
