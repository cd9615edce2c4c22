"""Level-1 enrollment rules, on SQLite and on the real PostgreSQL: nothing half-written."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.config import Settings
from identity_service.identity.cccd import InvalidCccd
from identity_service.identity.enrollment import (
    AlreadyEnrolled,
    EnrollmentNotFound,
    EnrollmentService,
    InvalidPhone,
    PhoneNotVerified,
    WeakPassword,
    normalise_phone,
)
from identity_service.identity.otp import OtpInvalid, OtpService
from identity_service.identity.registry import RegistryMismatch
from identity_service.identity.sms import DevelopmentSmsSender
from identity_service.storage.memory_store import MemoryStore
from identity_service.storage.models import Account, AuditEvent, Citizen
from tests.factories import FAST_HASHER, make_account, make_citizen

PASSWORD = "chim-sẻ-đậu-cành-tre"


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> EnrollmentService:
    settings = Settings(data_dir=tmp_path, seed_demo=False)
    store = MemoryStore()
    return EnrollmentService(engine, store, OtpService(store), DevelopmentSmsSender(tmp_path / "outbox.jsonl"),
                             FAST_HASHER, settings)


def _code_from_outbox(service: EnrollmentService) -> str:
    sender = service.sms
    assert isinstance(sender, DevelopmentSmsSender)
    message = json.loads(sender.outbox_path.read_text(encoding="utf-8").splitlines()[-1])["message"]
    return next(w for w in message.replace(".", " ").split() if w.isdigit() and len(w) == 6)


def _accounts_for(engine: Engine, citizen: Citizen) -> list[Account]:
    with Session(engine) as session:
        return list(session.exec(select(Account).where(Account.cccd == citizen.cccd)))


def _audit_count(engine: Engine, event: str, account_ids: list[str]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == event, AuditEvent.account_id.in_(account_ids))).one())  # type: ignore[union-attr]


def _all_events(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def test_enrollment_creates_exactly_one_level1_account_and_an_audit_event(
    service: EnrollmentService, engine: Engine
) -> None:
    citizen = make_citizen(engine)
    enrollment = service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912 345 678")
    service.verify_code(enrollment, _code_from_outbox(service))
    account = service.set_password(enrollment, PASSWORD)
    accounts = _accounts_for(engine, citizen)
    assert [a.id for a in accounts] == [account.id]
    assert accounts[0].level == 1 and accounts[0].phone == "+84912345678"
    assert accounts[0].password_hash.startswith("$argon2id$")
    assert _audit_count(engine, "account.enrolled", [account.id]) == 1
    assert service.describe(enrollment) is None  # the enrollment is finished


def test_name_matching_ignores_case_and_spacing_but_not_diacritics(service: EnrollmentService, engine: Engine) -> None:
    citizen = make_citizen(engine, full_name="Nguyễn Thị Lan")
    service.start(citizen.cccd, "  nguyễn   THỊ lan ", citizen.birth_date, "0912345678")
    with pytest.raises(RegistryMismatch) as error:
        service.start(citizen.cccd, "Nguyen Thi Lan", citizen.birth_date, "0912345678")
    assert error.value.reason == "details_mismatch"


@pytest.mark.parametrize(("overrides", "typed", "reason"), [
    ({}, {"birth_date": date(1990, 5, 18)}, "details_mismatch"),
    ({}, {"full_name": "Trần Thị Lan"}, "details_mismatch"),
    ({"card_expiry": date.today() - timedelta(days=1)}, {}, "card_expired"),
    ({"card_status": "revoked"}, {}, "card_revoked"),
    ({"deceased": True}, {}, "deceased"),
])
def test_registry_mismatches_are_refused_with_their_reason(
    service: EnrollmentService, engine: Engine, overrides: dict[str, object], typed: dict[str, object], reason: str
) -> None:
    citizen = make_citizen(engine, **overrides)
    values: dict[str, object] = {"full_name": citizen.full_name, "birth_date": citizen.birth_date, **typed}
    with pytest.raises(RegistryMismatch) as error:
        service.start(citizen.cccd, str(values["full_name"]), values["birth_date"], "0912345678")  # type: ignore[arg-type]
    assert error.value.reason == reason
    assert _accounts_for(engine, citizen) == []


def test_unknown_number_is_not_found(service: EnrollmentService) -> None:
    with pytest.raises(RegistryMismatch) as error:
        service.start("079090999999", "Lê Văn A", date(1990, 1, 1), "0912345678")
    assert error.value.reason == "not_found"


@pytest.mark.parametrize(("number", "part"), [("12345", "length"), ("0011901234ab", "characters"),
                                               ("003190123456", "province")])
def test_malformed_number_is_refused_before_any_lookup(service: EnrollmentService, number: str, part: str) -> None:
    with pytest.raises(InvalidCccd) as error:
        service.start(number, "Lê Văn A", date(1990, 1, 1), "0912345678")
    assert error.value.part == part


@pytest.mark.parametrize("phone", ["12345", "0212345678", "+8491234567", "09123456789", "phone"])
def test_invalid_phone_is_refused(service: EnrollmentService, engine: Engine, phone: str) -> None:
    citizen = make_citizen(engine)
    with pytest.raises(InvalidPhone):
        service.start(citizen.cccd, citizen.full_name, citizen.birth_date, phone)


def test_phone_numbers_are_normalised_to_e164() -> None:
    assert normalise_phone("0912345678") == normalise_phone("+84912345678") == "+84912345678"


def test_duplicate_enrollment_is_refused(service: EnrollmentService, engine: Engine) -> None:
    citizen = make_citizen(engine)
    make_account(engine, citizen, PASSWORD)
    with pytest.raises(AlreadyEnrolled):
        service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912345678")


def test_wrong_code_does_not_verify_the_phone(service: EnrollmentService, engine: Engine) -> None:
    citizen = make_citizen(engine)
    enrollment = service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912345678")
    code = _code_from_outbox(service)
    with pytest.raises(OtpInvalid):
        service.verify_code(enrollment, f"{(int(code) + 1) % 1_000_000:06d}")
    with pytest.raises(PhoneNotVerified):
        service.set_password(enrollment, PASSWORD)
    assert _accounts_for(engine, citizen) == []


def test_unknown_or_expired_enrollment_is_refused(service: EnrollmentService) -> None:
    with pytest.raises(EnrollmentNotFound):
        service.verify_code("no-such-enrollment", "123456")
    with pytest.raises(EnrollmentNotFound):
        service.set_password("no-such-enrollment", PASSWORD)


def test_weak_password_is_refused_and_nothing_is_written(service: EnrollmentService, engine: Engine) -> None:
    citizen = make_citizen(engine)
    enrollment = service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912345678")
    service.verify_code(enrollment, _code_from_outbox(service))
    with pytest.raises(WeakPassword) as error:
        service.set_password(enrollment, "matkhau123")
    assert error.value.problems == ["common"]
    with pytest.raises(WeakPassword) as error:
        service.set_password(enrollment, f"x{citizen.cccd}x")
    assert "contains_personal_data" in error.value.problems
    assert _accounts_for(engine, citizen) == []
    service.set_password(enrollment, PASSWORD)  # the enrollment is still usable
    assert len(_accounts_for(engine, citizen)) == 1


def test_account_created_meanwhile_wins_and_the_second_finish_writes_nothing(
    service: EnrollmentService, engine: Engine
) -> None:
    citizen = make_citizen(engine)
    enrollment = service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912345678")
    service.verify_code(enrollment, _code_from_outbox(service))
    other = make_account(engine, citizen, "mật-khẩu-của-quầy-đăng-ký")  # e.g. created at a desk meanwhile
    with pytest.raises(AlreadyEnrolled):
        service.set_password(enrollment, PASSWORD)
    accounts = _accounts_for(engine, citizen)
    assert [a.id for a in accounts] == [other.id]


def test_failure_inside_the_transaction_leaves_no_account_and_no_audit_row(
    service: EnrollmentService, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = make_citizen(engine)
    enrollment = service.start(citizen.cccd, citizen.full_name, citizen.birth_date, "0912345678")
    service.verify_code(enrollment, _code_from_outbox(service))

    def failing_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    events_before = _all_events(engine)
    monkeypatch.setattr("identity_service.identity.enrollment.record_event", failing_audit)
    with pytest.raises(RuntimeError):
        service.set_password(enrollment, PASSWORD)
    assert _accounts_for(engine, citizen) == []
    assert _all_events(engine) == events_before
    monkeypatch.undo()
    assert service.set_password(enrollment, PASSWORD).cccd == citizen.cccd
