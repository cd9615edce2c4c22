"""Second factors for level-2 logins: TOTP apps, SMS codes, recovery codes (NIST SP 800-63B §5.1).

Every method here blocks (SQL, store, HMAC): call them from the threadpool.

- **TOTP** (RFC 6238): 6 digits, 30-second steps, one step of clock drift either way (§5.2). A step
  is accepted at most once per authenticator: the accepting UPDATE is conditional on
  ``last_used_step < step``, so two concurrent submissions of the same code cannot both win (§5.2:
  "MUST NOT accept the second attempt of the same OTP"). The secret is stored AES-GCM encrypted.
- **SMS** codes to the account's verified phone through :class:`OtpService` (NIST SP 800-63B
  §5.1.3.3 calls SMS a restricted authenticator; it is offered because most citizens have no app).
- **Recovery codes**: ten look-up secrets (§5.1.2), shown once, stored as keyed hashes, single use;
  generating a new set replaces the old one.

Attempts are limited per account and per source address (§5.2.2) in fixed windows shared by every
process.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from identity_service.identity.audit import record_event
from identity_service.identity.levels import AMR_RECOVERY_CODE, AMR_SMS, AMR_TOTP
from identity_service.identity.otp import OtpError, OtpService
from identity_service.identity.sms import SmsSender
from identity_service.security.rate_limits import OTP_SEND_PER_PHONE, SECOND_FACTOR_PER_IP, Limit, RateLimiter
from identity_service.security.secret_box import SecretBox, SecretUnreadable
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, RecoveryCode, SecondFactor, utcnow

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
TOTP_WINDOW = 1  # steps either side (RFC 6238 §5.2 / §6)
RECOVERY_CODE_COUNT = 10
MAX_TOTP_FACTORS = 5
SECOND_FACTOR_PER_ACCOUNT = Limit("second_factor_account", 10, 900)
_SMS_PURPOSE = "second_factor"
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from paper


class SecondFactorError(Exception):
    """Base of second-factor failures; ``code`` names the translated message."""

    code = "second_factor.invalid"


class CodeRejected(SecondFactorError):
    """Wrong, expired or already used code (one error for all: nothing to learn from it)."""

    code = "second_factor.invalid"


class SecondFactorLockout(CodeRejected):
    """This wrong code was the last one allowed: the account is now locked (NIST SP 800-63B §5.2.2).

    The caller ends the account's sessions and tokens (``AccountAccess.end``) and says how to unlock.
    """

    code = "login.locked.too_many_failed_logins"


class FactorNotFound(SecondFactorError):
    code = "second_factor.not_found"


class TooManyFactors(SecondFactorError):
    code = "second_factor.too_many"


@dataclass(frozen=True)
class Method:
    """How a second factor was proven: its RFC 8176 ``amr`` value and the audit name."""

    name: str
    amr: str


TOTP = Method("totp", AMR_TOTP)
SMS = Method("sms", AMR_SMS)
RECOVERY = Method("recovery", AMR_RECOVERY_CODE)
METHODS = {method.name: method for method in (TOTP, SMS, RECOVERY)}


@dataclass(frozen=True)
class TotpEnrolment:
    """An authenticator waiting for its first code; ``secret`` is shown once for manual entry."""

    factor_id: str
    secret: str
    provisioning_uri: str


@dataclass(frozen=True)
class FactorSummary:
    factor_id: str
    label: str
    created_at: datetime


@dataclass(frozen=True)
class FactorStatus:
    """What an account can use as a second factor right now."""

    totp: list[FactorSummary]
    recovery_codes_left: int

    @property
    def has_totp(self) -> bool:
        return bool(self.totp)


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # 50 bits (§5.1.2.1: ≥ 20 bits)
    return f"{raw[:5]}-{raw[5:]}"


class SecondFactorService:
    def __init__(self, engine: Engine, otp: OtpService, sms: SmsSender, limiter: RateLimiter, box: SecretBox,
                 issuer_name: str, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.otp = otp
        self.sms = sms
        self.limiter = limiter
        self.box = box
        self.issuer_name = issuer_name
        self.clock = clock

    # -- status ---------------------------------------------------------------------------------

    def status(self, account_id: str) -> FactorStatus:
        with Session(self.engine) as session:
            factors = session.exec(select(SecondFactor).where(
                SecondFactor.account_id == account_id, col(SecondFactor.confirmed_at).is_not(None))
                .order_by(col(SecondFactor.created_at))).all()
            codes = session.exec(select(RecoveryCode.id).where(
                RecoveryCode.account_id == account_id, col(RecoveryCode.used_at).is_(None))).all()
        return FactorStatus(totp=[FactorSummary(f.id, f.label, f.created_at) for f in factors],
                            recovery_codes_left=len(codes))

    # -- TOTP enrolment -------------------------------------------------------------------------

    def begin_totp(self, account_id: str, account_name: str, label: str = "") -> TotpEnrolment:
        """A new unconfirmed authenticator (earlier unconfirmed ones are discarded)."""
        secret = pyotp.random_base32(32)  # 160 bits, RFC 4226 §4 R6 recommends ≥ 160
        with session_scope(self.engine) as session:
            confirmed = session.exec(select(SecondFactor.id).where(
                SecondFactor.account_id == account_id, col(SecondFactor.confirmed_at).is_not(None))).all()
            if len(confirmed) >= MAX_TOTP_FACTORS:
                raise TooManyFactors("remove an authenticator before adding another")
            session.execute(delete(SecondFactor).where(col(SecondFactor.account_id) == account_id,
                                                       col(SecondFactor.confirmed_at).is_(None)))
            factor = SecondFactor(account_id=account_id, kind="totp", label=label[:60],
                                  secret_encrypted=self.box.seal(secret, account_id))
            session.add(factor)
        return TotpEnrolment(factor.id, secret, self._provisioning_uri(secret, account_name))

    def _provisioning_uri(self, secret: str, account_name: str) -> str:
        # Key URI format of Google Authenticator, which every TOTP app reads.
        return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
            name=account_name, issuer_name=self.issuer_name)

    def pending_totp(self, account_id: str, factor_id: str, account_name: str) -> TotpEnrolment | None:
        """The unconfirmed authenticator ``factor_id`` (to show its QR code again after a wrong code)."""
        with Session(self.engine) as session:
            factor = session.get(SecondFactor, factor_id)
        if factor is None or factor.account_id != account_id or factor.confirmed_at is not None:
            return None
        secret = self._secret(factor)
        return TotpEnrolment(factor.id, secret, self._provisioning_uri(secret, account_name))

    def confirm_totp(self, account_id: str, factor_id: str, code: str) -> None:
        """The first code proves the app holds the secret; only then does the factor count."""
        self.limiter.hit(SECOND_FACTOR_PER_ACCOUNT, account_id)
        with Session(self.engine) as session:
            factor = session.get(SecondFactor, factor_id)
        if factor is None or factor.account_id != account_id or factor.confirmed_at is not None:
            raise FactorNotFound("no authenticator is waiting for confirmation")
        step = self._matching_step(factor, code)
        confirmed = False
        with session_scope(self.engine) as session:
            if step is not None:
                # The confirming step is used up too (RFC 6238 §5.2), and a factor is confirmed once.
                confirmed = session.execute(
                    update(SecondFactor)
                    .where(col(SecondFactor.id) == factor_id, col(SecondFactor.confirmed_at).is_(None),
                           col(SecondFactor.last_used_step) < step)
                    .values(confirmed_at=utcnow(), last_used_step=step)).rowcount == 1  # type: ignore[attr-defined]
            event = "second_factor.enrolled" if confirmed else "second_factor.enrolment_failed"
            record_event(session, event, account_id=account_id, kind="totp", factor_id=factor_id)
        if not confirmed:
            raise CodeRejected("the code does not match")

    def remove_totp(self, account_id: str, factor_id: str) -> None:
        with session_scope(self.engine) as session:
            removed = session.execute(delete(SecondFactor).where(col(SecondFactor.id) == factor_id,
                                                                 col(SecondFactor.account_id) == account_id))
            if removed.rowcount != 1:  # type: ignore[attr-defined]
                raise FactorNotFound("no such authenticator")
            record_event(session, "second_factor.removed", account_id=account_id, kind="totp", factor_id=factor_id)

    # -- verification (login) -------------------------------------------------------------------

    def verify(self, account_id: str, method: Method, code: str, client_id: str | None = None,
               source_ip: str | None = None) -> None:
        """Check a second factor for ``account_id`` or raise; every outcome is audited.

        ``source_ip`` (the login request's peer address) is counted against :data:`SECOND_FACTOR_PER_IP`
        before the account's own limit; either raises ``RateLimited`` without checking the code."""
        if source_ip is not None:
            self.limiter.hit(SECOND_FACTOR_PER_IP, source_ip)
        self.limiter.hit(SECOND_FACTOR_PER_ACCOUNT, account_id)
        try:
            if method is TOTP:
                self._verify_totp(account_id, code)
            elif method is SMS:
                self._verify_sms(account_id, code)
            elif method is RECOVERY:
                self._use_recovery_code(account_id, code)
            else:
                raise CodeRejected("unknown method")
        except SecondFactorError:
            self._audit("second_factor.failed", account_id, client_id, method=method.name)
            if self.limiter.should_lock(self.limiter.second_factor_failed(account_id)) and self._lock(account_id):
                raise SecondFactorLockout("too many wrong second factors") from None
            raise
        self.limiter.second_factor_succeeded(account_id)
        self._audit("second_factor.succeeded", account_id, client_id, method=method.name)

    def _lock(self, account_id: str) -> bool:
        """Lock an active account after the last allowed failure; False if it was not active."""
        with session_scope(self.engine) as session:
            locked = session.connection().execute(
                update(Account).where(col(Account.id) == account_id, col(Account.status) == "active")
                .values(status="locked", status_reason="too_many_failed_logins", updated_at=utcnow())
            ).rowcount
            if locked:
                record_event(session, "account.locked", account_id=account_id, reason="too_many_failed_logins",
                             factor="second")
        return bool(locked)

    def _audit(self, event: str, account_id: str, client_id: str | None, **details: str) -> None:
        with session_scope(self.engine) as session:
            record_event(session, event, account_id=account_id, client_id=client_id, **details)

    def _secret(self, factor: SecondFactor) -> str:
        try:
            return self.box.open(factor.secret_encrypted, factor.account_id)
        except SecretUnreadable as exc:
            # Wrong IDENTITY_TOTP_KEY or a tampered row: refuse, never fall back to anything weaker.
            raise CodeRejected("the authenticator cannot be read") from exc

    def _matching_step(self, factor: SecondFactor, code: str) -> int | None:
        candidate = code.strip().replace(" ", "")
        if len(candidate) != TOTP_DIGITS or not candidate.isdigit():
            return None
        totp = pyotp.TOTP(self._secret(factor), digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
        now_step = int(self.clock()) // TOTP_STEP_SECONDS
        matched = None
        for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
            # Compare every candidate step (constant work whichever step matches).
            if hmac.compare_digest(totp.generate_otp(step), candidate):
                matched = step
        return matched

    def _verify_totp(self, account_id: str, code: str) -> None:
        with Session(self.engine) as session:
            factors = session.exec(select(SecondFactor).where(
                SecondFactor.account_id == account_id, col(SecondFactor.confirmed_at).is_not(None))).all()
        for factor in factors:
            step = self._matching_step(factor, code)
            if step is None:
                continue
            with session_scope(self.engine) as session:
                # RFC 6238 §5.2: each step once. The condition makes the check-and-set atomic.
                accepted = session.execute(
                    update(SecondFactor)
                    .where(col(SecondFactor.id) == factor.id, col(SecondFactor.last_used_step) < step)
                    .values(last_used_step=step))
            if accepted.rowcount == 1:  # type: ignore[attr-defined]
                return
        raise CodeRejected("the code does not match or was already used")

    # -- SMS ------------------------------------------------------------------------------------

    def send_sms_code(self, account_id: str, phone: str) -> None:
        """Text a one-time code to the account's verified phone (cool-down and hourly limits apply)."""
        self.limiter.hit(OTP_SEND_PER_PHONE, phone)
        code = self.otp.issue(_SMS_PURPOSE, account_id)
        minutes = max(self.otp.ttl // 60, 1)
        self.sms.send(phone, f"Mã đăng nhập mức 2 VNeID của bạn là {code}. Mã có hiệu lực trong {minutes} phút. "
                             "Không chia sẻ mã này cho bất kỳ ai.")

    def _verify_sms(self, account_id: str, code: str) -> None:
        try:
            self.otp.verify(_SMS_PURPOSE, account_id, code)
        except OtpError as exc:
            raise CodeRejected(str(exc)) from exc

    # -- recovery codes -------------------------------------------------------------------------

    def generate_recovery_codes(self, account_id: str) -> list[str]:
        """Ten new codes, returned once in the clear; every earlier code stops working."""
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        with session_scope(self.engine) as session:
            session.execute(delete(RecoveryCode).where(col(RecoveryCode.account_id) == account_id))
            for code in codes:
                session.add(RecoveryCode(account_id=account_id,
                                         code_hash=self.box.keyed_hash(_normalise_recovery_code(code), account_id)))
            record_event(session, "recovery_codes.generated", account_id=account_id, count=len(codes))
        return codes

    def _use_recovery_code(self, account_id: str, code: str) -> None:
        digest = self.box.keyed_hash(_normalise_recovery_code(code), account_id)
        with session_scope(self.engine) as session:
            # Single use: the conditional UPDATE lets exactly one submission consume the code.
            used = session.execute(
                update(RecoveryCode)
                .where(col(RecoveryCode.account_id) == account_id, col(RecoveryCode.code_hash) == digest,
                       col(RecoveryCode.used_at).is_(None))
                .values(used_at=utcnow()))
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise CodeRejected("the recovery code is wrong or was already used")
