"""Rate limits and login throttling on the ephemeral store (Redis in production: shared by every process).

Fixed windows (``incr`` starts the TTL on the first hit, so the window does not slide). Login
failures are counted per CCCD number whether or not an account exists (no enumeration), slow the
next attempt down progressively and, at 100 consecutive failures (NIST SP 800-63B §5.2.2), lock
the account until an operator or registration desk unlocks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

from identity_service.storage.ephemeral import Delete, EphemeralStore, Put

_LIMITS = "rate"
_FAILURES = "login_failures"
_BLOCKED = "login_blocked"
_SECOND_FACTOR_FAILURES = "second_factor_failures"
# Kept a month, not a day: a guesser pacing itself under the per-account window (10 per 15 min)
# must still meet the lock within 100 tries, not start afresh every morning.
_SECOND_FACTOR_FAILURES_TTL = 30 * 24 * 3600


def client_ip(request: Request) -> str:
    """The peer address (uvicorn resolves X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: int


class RateLimited(Exception):
    """Too many requests; ``retry_after`` seconds until the next attempt may succeed."""

    code = "rate_limited"

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(f"too many {what}; retry after {retry_after} s")
        self.retry_after = max(int(retry_after), 1)
        self.what = what


LOGIN_PER_IP = Limit("login_ip", 60, 60)
ENROLL_PER_IP = Limit("enroll_ip", 20, 600)
ENROLL_PER_CCCD = Limit("enroll_cccd", 5, 3600)
OTP_SEND_PER_PHONE = Limit("otp_send_phone", 5, 3600)
OTP_VERIFY_PER_IP = Limit("otp_verify_ip", 30, 600)
TOKEN_PER_CLIENT = Limit("token_client", 6000, 60)
PASSWORD_CHANGE_PER_ACCOUNT = Limit("password_change", 10, 3600)  # the current password is a secret to guess
# NIST SP 800-63B §5.2.2: limit failed authentication attempts. Per account (identity/second_factors.py)
# stops guessing one account's code; per source address stops one client spreading its guesses
# over many accounts whose passwords it holds (a credential-stuffing list), 10 guesses each.
SECOND_FACTOR_PER_IP = Limit("second_factor_ip", 30, 900)
ACTIVATION_RESEND_PER_CCCD = Limit("activation_resend_cccd", 3, 3600)


class RateLimiter:
    def __init__(self, store: EphemeralStore, free_failures: int = 5, max_delay: int = 900,
                 lock_after: int = 100) -> None:
        self.store = store
        self.free_failures = free_failures
        self.max_delay = max_delay
        self.lock_after = lock_after

    def hit(self, limit: Limit, key: str) -> None:
        """Count one request; raise :class:`RateLimited` past the limit."""
        count = self.store.incr(_LIMITS, f"{limit.name}:{key}", limit.window)
        if count > limit.limit:
            raise RateLimited(self.store.ttl(_LIMITS, f"{limit.name}:{key}") or limit.window, limit.name)

    async def hit_and_put(self, limit: Limit, key: str, puts: Sequence[Put]) -> None:
        """:meth:`hit` on the event loop, storing ``puts`` in the same round trip (the records of the
        tokens a response carries). Over the limit, the response is not sent, so the records name
        tokens nobody holds; they expire with them."""
        count, remaining = await self.store.count_and_put(_LIMITS, f"{limit.name}:{key}", limit.window, puts)
        if count > limit.limit:
            raise RateLimited(remaining, limit.name)

    def check_login(self, cccd: str) -> None:
        """Before checking a password: refuse while the number is in its back-off period."""
        blocked = self.store.ttl(_BLOCKED, cccd)
        if blocked:
            raise RateLimited(blocked, "failed logins")

    def login_failed(self, cccd: str) -> int:
        """Record a failure; returns the consecutive count (kept a day) and starts a back-off."""
        failures = self.store.incr(_FAILURES, cccd, 24 * 3600)
        if failures > self.free_failures:
            delay = min(2 ** (failures - self.free_failures) * 15, self.max_delay)
            self.store.put(_BLOCKED, cccd, {}, delay)
        return failures

    def second_factor_failed(self, account_id: str) -> int:
        """Record a wrong second factor; returns the consecutive count (NIST SP 800-63B §5.2.2)."""
        return self.store.incr(_SECOND_FACTOR_FAILURES, account_id, _SECOND_FACTOR_FAILURES_TTL)

    def second_factor_succeeded(self, account_id: str) -> None:
        self.store.delete(_SECOND_FACTOR_FAILURES, account_id)

    def should_lock(self, failures: int) -> bool:
        return failures >= self.lock_after

    def login_succeeded(self, cccd: str) -> None:
        self.store.write_many([Delete(_FAILURES, cccd), Delete(_BLOCKED, cccd)])

    def blocked(self, limit: int = 1000) -> list[tuple[str, int]]:
        """Numbers in a login back-off now, with the seconds left."""
        result = []
        for key in self.store.scan(_BLOCKED, limit):
            ttl = self.store.ttl(_BLOCKED, key)
            if ttl:
                result.append((key, ttl))
        return sorted(result)

    def clear(self, cccd: str) -> None:
        """Operator action: forget failures and back-off for a number."""
        self.login_succeeded(cccd)
