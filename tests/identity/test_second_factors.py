"""Second factors on both databases: TOTP window and single use (RFC 6238), encrypted secrets, recovery codes."""

from __future__ import annotations

import threading
from pathlib import Path

import pyotp
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from identity_service.identity.otp import OtpService
from identity_service.identity.second_factors import (
    RECOVERY,
    SECOND_FACTOR_PER_ACCOUNT,
    TOTP,
    CodeRejected,
    SecondFactorLockout,
    SecondFactorService,
)
from identity_service.identity.sms import DevelopmentSmsSender
from identity_service.security.rate_limits import SECOND_FACTOR_PER_IP, RateLimited, RateLimiter
from identity_service.security.secret_box import SecretBox, SecretUnreadable
from identity_service.storage.database import session_scope
from identity_service.storage.memory_store import MemoryStore
from identity_service.storage.models import Account, AuditEvent, RecoveryCode, SecondFactor
from tests.factories import make_account, make_citizen

KEY = "k" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 5  # a fixed instant, 5 s into a step

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, tmp_path: Path, clock: Clock) -> SecondFactorService:
    store = MemoryStore()
    return SecondFactorService(engine, OtpService(store), DevelopmentSmsSender(tmp_path / "outbox.jsonl"),
                               RateLimiter(store), SecretBox(KEY), issuer_name="test", clock=clock)


@pytest.fixture
def account_id(engine: Engine) -> str:
    return make_account(engine, make_citizen(engine), "mật-khẩu-đủ-dài-123").id


def _enrolled(service: SecondFactorService, account_id: str, clock: Clock) -> pyotp.TOTP:
    enrolment = service.begin_totp(account_id, "acct")
    totp = pyotp.TOTP(enrolment.secret)
    service.confirm_totp(account_id, enrolment.factor_id, totp.at(clock.now))
    clock.now += 30
    return totp


def test_the_secret_is_stored_encrypted_and_bound_to_its_account(
    service: SecondFactorService, account_id: str, engine: Engine
) -> None:
    enrolment = service.begin_totp(account_id, "acct")
    with session_scope(engine) as db:
        row = db.get(SecondFactor, enrolment.factor_id)
    assert row is not None and enrolment.secret not in row.secret_encrypted
    box = SecretBox(KEY)
    assert box.open(row.secret_encrypted, account_id) == enrolment.secret
    with pytest.raises(SecretUnreadable):
        box.open(row.secret_encrypted, "another-account")  # a row copied onto someone else fails
    with pytest.raises(SecretUnreadable):
        SecretBox("z" * 40).open(row.secret_encrypted, account_id)


def test_an_unconfirmed_authenticator_is_not_a_second_factor(
    service: SecondFactorService, account_id: str, clock: Clock
) -> None:
    totp = pyotp.TOTP(service.begin_totp(account_id, "acct").secret)
    with pytest.raises(CodeRejected):
        service.verify(account_id, TOTP, totp.at(clock.now))


@pytest.mark.parametrize(("drift", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_one_step_of_clock_drift_is_tolerated_either_way(
    service: SecondFactorService, account_id: str, clock: Clock, drift: int, accepted: bool
) -> None:
    totp = _enrolled(service, account_id, clock)
    clock.now += 60  # well past the confirming step
    code = totp.at(clock.now + drift)
    if accepted:
        service.verify(account_id, TOTP, code)
    else:
        with pytest.raises(CodeRejected):
            service.verify(account_id, TOTP, code)


def test_a_code_is_accepted_once_and_earlier_steps_are_dead_after_it(
    service: SecondFactorService, account_id: str, clock: Clock
) -> None:
    totp = _enrolled(service, account_id, clock)
    clock.now += 30
    previous, current = totp.at(clock.now - 30), totp.at(clock.now)
    service.verify(account_id, TOTP, current)
    with pytest.raises(CodeRejected):
        service.verify(account_id, TOTP, current)
    with pytest.raises(CodeRejected):
        service.verify(account_id, TOTP, previous)  # within the window, but older than the used step


def test_concurrent_submissions_of_one_code_succeed_exactly_once(
    service: SecondFactorService, account_id: str, clock: Clock
) -> None:
    totp = _enrolled(service, account_id, clock)
    code = totp.at(clock.now)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        barrier.wait()
        try:
            service.verify(account_id, TOTP, code)
            results.append(True)
        except CodeRejected:
            results.append(False)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


def test_attempts_are_limited_per_account(service: SecondFactorService, account_id: str) -> None:
    for _ in range(SECOND_FACTOR_PER_ACCOUNT.limit):
        with pytest.raises(CodeRejected):
            service.verify(account_id, RECOVERY, "WRONG-CODE1")
    with pytest.raises(RateLimited):
        service.verify(account_id, RECOVERY, "WRONG-CODE1")


def test_attempts_are_limited_per_source_address_across_accounts(
    service: SecondFactorService, engine: Engine
) -> None:
    """One address holding several accounts' passwords gets 30 guesses in all, not 10 per account."""
    accounts = [make_account(engine, make_citizen(engine), "mật-khẩu-đủ-dài-123").id
                for _ in range(SECOND_FACTOR_PER_IP.limit // SECOND_FACTOR_PER_ACCOUNT.limit + 1)]
    for account in accounts[:-1]:
        for _ in range(SECOND_FACTOR_PER_ACCOUNT.limit):
            with pytest.raises(CodeRejected):
                service.verify(account, RECOVERY, "WRONG-CODE1", source_ip="203.0.113.7")
    with pytest.raises(RateLimited) as limited:
        service.verify(accounts[-1], RECOVERY, "WRONG-CODE1", source_ip="203.0.113.7")
    assert limited.value.what == SECOND_FACTOR_PER_IP.name and limited.value.retry_after >= 1
    # The account itself is not blocked: the same account from another address still gets its code checked.
    with pytest.raises(CodeRejected):
        service.verify(accounts[-1], RECOVERY, "WRONG-CODE1", source_ip="198.51.100.20")


def test_consecutive_failures_lock_the_account_and_a_success_starts_the_count_again(
    engine: Engine, tmp_path: Path, clock: Clock, account_id: str
) -> None:
    """NIST SP 800-63B §5.2.2: at most 100 consecutive failures (3 here), whatever the pace."""
    store = MemoryStore()
    service = SecondFactorService(engine, OtpService(store), DevelopmentSmsSender(tmp_path / "outbox.jsonl"),
                                  RateLimiter(store, lock_after=3), SecretBox(KEY), issuer_name="test", clock=clock)
    totp = _enrolled(service, account_id, clock)
    for _ in range(2):
        with pytest.raises(CodeRejected):
            service.verify(account_id, TOTP, "000000")
    service.verify(account_id, TOTP, totp.at(clock.now))  # the count starts again
    for _ in range(2):
        with pytest.raises(CodeRejected) as rejected:
            service.verify(account_id, TOTP, "000000")
        assert not isinstance(rejected.value, SecondFactorLockout)
    with pytest.raises(SecondFactorLockout):
        service.verify(account_id, TOTP, "000000")
    with session_scope(engine) as session:
        account = session.get(Account, account_id)
        assert account is not None and (account.status, account.status_reason) == ("locked", "too_many_failed_logins")
        events = session.exec(select(AuditEvent).where(AuditEvent.account_id == account_id,
                                                       AuditEvent.event == "account.locked")).all()
    assert len(events) == 1


def test_recovery_codes_are_hashed_single_use_and_replaced_by_a_new_set(
    service: SecondFactorService, account_id: str, engine: Engine
) -> None:
    first = service.generate_recovery_codes(account_id)
    with session_scope(engine) as db:
        stored = [row.code_hash for row in db.exec(select(RecoveryCode).where(
            RecoveryCode.account_id == account_id)).all()]
    assert len(stored) == 10 and not set(first) & set(stored)
    service.verify(account_id, RECOVERY, first[0].replace("-", " ").lower())  # typed loosely from paper
    with pytest.raises(CodeRejected):
        service.verify(account_id, RECOVERY, first[0])
    assert service.status(account_id).recovery_codes_left == 9
    second = service.generate_recovery_codes(account_id)
    with pytest.raises(CodeRejected):
        service.verify(account_id, RECOVERY, first[1])
    service.verify(account_id, RECOVERY, second[1])
