"""Level-1 online enrollment (DESIGN.md §1): registry match → SMS code → password → account.

Nothing is written to SQL until the last step, and that step is one transaction: an account
and its audit event, or nothing.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from identity_service.config import Settings
from identity_service.identity.audit import record_event
from identity_service.identity.otp import OtpService
from identity_service.identity.registry import match_citizen
from identity_service.identity.sms import SmsSender
from identity_service.security.passwords import PasswordHasher, check_password_policy
from identity_service.security.rate_limits import ENROLL_PER_CCCD, OTP_SEND_PER_PHONE, RateLimiter
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account

log = logging.getLogger(__name__)
_ENROLLMENTS = "enrollment"
_OTP_PURPOSE = "enroll"
_PHONE = re.compile(r"^(?:\+84|0)([35789]\d{8})$")


class EnrollmentError(Exception):
    """Base of enrollment failures; ``code`` is stable and names the translated message."""

    code = "invalid_request"


class InvalidPhone(EnrollmentError):
    code = "invalid_phone"


class AlreadyEnrolled(EnrollmentError):
    code = "already_enrolled"


class EnrollmentNotFound(EnrollmentError):
    code = "enrollment.not_found"


class PhoneNotVerified(EnrollmentError):
    code = "enrollment.phone_not_verified"


class WeakPassword(EnrollmentError):
    code = "password.weak"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("password refused: " + ", ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EnrollmentState:
    cccd: str
    phone: str
    birth_date: str
    phone_verified: bool


def normalise_phone(phone: str) -> str:
    """Vietnamese mobile number → E.164 (+84…), or :class:`InvalidPhone`."""
    compact = phone.replace(" ", "").replace(".", "").replace("-", "")
    match = _PHONE.match(compact)
    if not match:
        raise InvalidPhone("a Vietnamese mobile number has 10 digits: 0xxxxxxxxx or +84xxxxxxxxx")
    return "+84" + match.group(1)


class EnrollmentService:
    def __init__(self, engine: Engine, store: EphemeralStore, otp: OtpService, sms: SmsSender,
                 hasher: PasswordHasher, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.engine = engine
        self.store = store
        self.otp = otp
        self.sms = sms
        self.hasher = hasher
        self.settings = settings
        self.limiter = limiter

    def _account_exists(self, session: Session, cccd: str) -> bool:
        return session.exec(select(Account.id).where(Account.cccd == cccd)).first() is not None

    def start(self, cccd: str, full_name: str, birth_date: date, phone: str) -> str:
        """Check the registry and send a code; returns the enrollment id. Blocking: use a thread."""
        e164 = normalise_phone(phone)
        if self.limiter is not None:
            self.limiter.hit(ENROLL_PER_CCCD, cccd[:64])
        with Session(self.engine) as session:
            citizen = match_citizen(session, cccd, full_name, birth_date)
            if self._account_exists(session, citizen.cccd):
                raise AlreadyEnrolled("an account already exists for this number")
        enrollment_id = secrets.token_urlsafe(24)
        state = {"cccd": citizen.cccd, "phone": e164, "birth_date": birth_date.isoformat(), "phone_verified": False}
        self.store.put(_ENROLLMENTS, enrollment_id, state, self.settings.enrollment_ttl)
        self._send_code(enrollment_id, e164)
        log.info("enrollment started")
        return enrollment_id

    def _send_code(self, enrollment_id: str, phone: str) -> None:
        if self.limiter is not None:
            self.limiter.hit(OTP_SEND_PER_PHONE, phone)
        code = self.otp.issue(_OTP_PURPOSE, enrollment_id)
        minutes = max(self.otp.ttl // 60, 1)
        self.sms.send(phone, f"Mã xác thực VNeID của bạn là {code}. Mã có hiệu lực trong {minutes} phút. "
                             "Không chia sẻ mã này cho bất kỳ ai.")

    def describe(self, enrollment_id: str) -> EnrollmentState | None:
        if not enrollment_id or len(enrollment_id) > 64:
            return None
        data = self.store.get(_ENROLLMENTS, enrollment_id)
        return EnrollmentState(**data) if data else None

    def _require(self, enrollment_id: str) -> EnrollmentState:
        state = self.describe(enrollment_id)
        if state is None:
            raise EnrollmentNotFound("the enrollment has expired or does not exist")
        return state

    def resend_code(self, enrollment_id: str) -> None:
        state = self._require(enrollment_id)
        self._send_code(enrollment_id, state.phone)

    def verify_code(self, enrollment_id: str, code: str) -> None:
        state = self._require(enrollment_id)
        self.otp.verify(_OTP_PURPOSE, enrollment_id, code)
        verified = {**state.__dict__, "phone_verified": True}
        self.store.put(_ENROLLMENTS, enrollment_id, verified, self.settings.enrollment_ttl)

    def set_password(self, enrollment_id: str, password: str) -> Account:
        """Create the level-1 account in one transaction (account + audit event, or nothing)."""
        state = self._require(enrollment_id)
        if not state.phone_verified:
            raise PhoneNotVerified("the phone number has not been verified")
        birth = state.birth_date.replace("-", "")
        problems = check_password_policy(password, (state.cccd, birth, birth[2:], state.phone[3:]))
        if problems:
            raise WeakPassword(problems)
        password_hash = self.hasher.hash(password)
        try:
            with session_scope(self.engine) as session:
                if self._account_exists(session, state.cccd):
                    raise AlreadyEnrolled("an account already exists for this number")
                account = Account(cccd=state.cccd, phone=state.phone, password_hash=password_hash, level=1)
                session.add(account)
                session.flush()
                record_event(session, "account.enrolled", account_id=account.id, level=1, channel="online")
        except IntegrityError as exc:
            # Two tabs finishing at once: the unique constraint on cccd lets exactly one win.
            raise AlreadyEnrolled("an account already exists for this number") from exc
        self.store.delete(_ENROLLMENTS, enrollment_id)
        log.info("account enrolled at level 1")
        return account
