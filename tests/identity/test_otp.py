"""One-time codes: single use, few attempts, expiry, resend cooldown — on both stores."""

from __future__ import annotations

import threading

import pytest

from identity_service.identity.otp import OtpExpired, OtpInvalid, OtpResendTooSoon, OtpService, OtpTooManyAttempts
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.memory_store import MemoryStore
from identity_service.storage.redis_store import RedisStore


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> EphemeralStore:
    if request.param == "memory":
        return MemoryStore()
    return RedisStore.from_url(request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_is_accepted_once(store: EphemeralStore) -> None:
    otp = OtpService(store)
    code = otp.issue("enroll", "e1")
    assert len(code) == 6 and code.isdigit()
    otp.verify("enroll", "e1", code)
    with pytest.raises(OtpExpired):
        otp.verify("enroll", "e1", code)


def test_codes_are_stored_hashed(store: EphemeralStore) -> None:
    otp = OtpService(store)
    code = otp.issue("enroll", "e2")
    record = store.get("otp", "enroll:e2")
    assert record is not None and code not in str(record)


def test_wrong_codes_count_attempts_and_the_last_one_burns_the_code(store: EphemeralStore) -> None:
    otp = OtpService(store, max_attempts=3)
    code = otp.issue("enroll", "e3")
    with pytest.raises(OtpInvalid) as first:
        otp.verify("enroll", "e3", _wrong(code))
    assert first.value.attempts_left == 2
    with pytest.raises(OtpInvalid):
        otp.verify("enroll", "e3", _wrong(code))
    with pytest.raises(OtpTooManyAttempts):
        otp.verify("enroll", "e3", _wrong(code))
    with pytest.raises(OtpExpired):
        otp.verify("enroll", "e3", code)  # burnt: the right code no longer works


def test_expired_code_is_refused() -> None:
    now = [0.0]
    otp = OtpService(MemoryStore(clock=lambda: now[0]), ttl=300)
    code = otp.issue("enroll", "e4")
    now[0] += 301
    with pytest.raises(OtpExpired):
        otp.verify("enroll", "e4", code)


def test_resend_is_refused_during_the_cooldown_and_replaces_the_code_after() -> None:
    now = [0.0]
    otp = OtpService(MemoryStore(clock=lambda: now[0]), resend_cooldown=60)
    first = otp.issue("enroll", "e5")
    with pytest.raises(OtpResendTooSoon) as error:
        otp.issue("enroll", "e5")
    assert 0 < error.value.retry_after <= 60
    now[0] += 61
    second = otp.issue("enroll", "e5")
    if second != first:
        with pytest.raises(OtpInvalid):
            otp.verify("enroll", "e5", first)
    otp.verify("enroll", "e5", second)


def test_concurrent_correct_submissions_succeed_exactly_once(store: EphemeralStore) -> None:
    otp = OtpService(store, max_attempts=50)
    code = otp.issue("enroll", "e6")
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def submit() -> None:
        barrier.wait()
        try:
            otp.verify("enroll", "e6", code)
            outcomes.append("ok")
        except OtpExpired:
            outcomes.append("used")

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1
