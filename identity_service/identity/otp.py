"""One-time codes (NIST SP 800-63B §5.1.3): random, short-lived, single use, few attempts.

Codes are stored only as salted hashes in the ephemeral store, keyed by purpose and subject.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from identity_service.storage.ephemeral import EphemeralStore

_CODES = "otp"
_COOLDOWN = "otp_cooldown"


class OtpError(Exception):
    code = "otp.invalid"


class OtpExpired(OtpError):
    code = "otp.expired"


class OtpInvalid(OtpError):
    code = "otp.invalid"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong code; {attempts_left} attempts left")
        self.attempts_left = attempts_left


class OtpTooManyAttempts(OtpError):
    code = "otp.too_many_attempts"


class OtpResendTooSoon(OtpError):
    code = "otp.resend_too_soon"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"wait {retry_after} s before asking for a new code")
        self.retry_after = retry_after


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


class OtpService:
    def __init__(self, store: EphemeralStore, ttl: int = 300, max_attempts: int = 5, resend_cooldown: int = 60,
                 digits: int = 6) -> None:
        self.store = store
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.resend_cooldown = resend_cooldown
        self.digits = digits

    def issue(self, purpose: str, subject: str) -> str:
        """A new code for ``subject``, replacing any earlier one; refused during the resend cooldown."""
        key = f"{purpose}:{subject}"
        if not self.store.add(_COOLDOWN, key, {}, self.resend_cooldown):
            raise OtpResendTooSoon(self.store.ttl(_COOLDOWN, key) or self.resend_cooldown)
        code = f"{secrets.randbelow(10**self.digits):0{self.digits}d}"
        salt = secrets.token_hex(8)
        self.store.delete(_CODES + "_attempts", key)
        self.store.put(_CODES, key, {"salt": salt, "digest": _digest(salt, code)}, self.ttl)
        return code

    def verify(self, purpose: str, subject: str, code: str) -> None:
        """Accept the code once, or raise. A wrong code costs an attempt; the last one burns the code."""
        key = f"{purpose}:{subject}"
        record = self.store.get(_CODES, key)
        if record is None:
            raise OtpExpired("the code has expired or was never sent")
        attempts = self.store.incr(_CODES + "_attempts", key, self.ttl)
        if attempts > self.max_attempts:
            self.store.delete(_CODES, key)
            raise OtpTooManyAttempts("too many wrong codes; ask for a new one")
        candidate = _digest(str(record["salt"]), code.strip())
        if not hmac.compare_digest(candidate, str(record["digest"])):
            if attempts >= self.max_attempts:
                self.store.delete(_CODES, key)
                raise OtpTooManyAttempts("too many wrong codes; ask for a new one")
            raise OtpInvalid(self.max_attempts - attempts)
        # Single use: only the caller that removes it succeeds.
        if self.store.take(_CODES, key) is None:
            raise OtpExpired("the code has already been used")
        self.store.delete(_CODES + "_attempts", key)
