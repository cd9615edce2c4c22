"""A citizen who never enrolled gets a level-2 account at the desk and activates it by SMS code."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from identity_service.identity.sms import read_outbox
from identity_service.storage.models import AuditEvent, LevelEvidence
from tests.factories import make_citizen
from tests.harness import Harness
from tests.registrar.desk import Desk, account_of, evidence_for, login

NEW_PASSWORD = "bốn-mùa-hoa-lá-xanh-tươi"


def _activation_code(harness: Harness) -> str:
    [message] = read_outbox(harness.services.settings.data_dir / "sms_outbox.jsonl", limit=1)
    assert message["phone"] == "+84987654321"
    match = re.search(r"\b(\d{8})\b", message["message"])
    assert match is not None
    return match.group(1)


def test_create_at_level_two_then_activate_and_log_in(harness: Harness, desk: Desk) -> None:
    citizen = make_citizen(harness.engine)
    body = {**evidence_for(citizen), "phone": "0987 654 321"}
    created = desk.post("/registrar/accounts", body)
    assert created.status_code == 201, created.text
    assert created.json()["level"] == 2 and created.json()["activation_code_sent"] is True
    account = account_of(harness, citizen.cccd)
    assert account.level == 2 and account.phone == "+84987654321"
    with Session(harness.engine) as session:
        [evidence] = session.exec(select(LevelEvidence).where(LevelEvidence.account_id == account.id)).all()
    assert evidence.action == "create"
    assert login(harness, citizen.cccd, "anything-at-all-123").status_code == 401  # no password until activation

    code = _activation_code(harness)
    wrong = harness.client.post("/api/activation", json={"cccd": citizen.cccd, "code": "00000000",
                                                         "password": NEW_PASSWORD})
    assert wrong.status_code == 400 and wrong.json()["code"] == "activation.invalid"
    activated = harness.client.post("/api/activation", json={"cccd": citizen.cccd, "code": code,
                                                             "password": NEW_PASSWORD})
    assert activated.status_code == 201, activated.text
    assert activated.json() == {"level": 2, "status": "active"}
    assert login(harness, citizen.cccd, NEW_PASSWORD).status_code == 303
    again = harness.client.post("/api/activation", json={"cccd": citizen.cccd, "code": code, "password": "x" * 20})
    assert again.status_code == 400  # a code cannot reset a password


def test_replayed_create_writes_one_account_and_one_evidence_row(harness: Harness, desk: Desk) -> None:
    citizen = make_citizen(harness.engine)
    body = {**evidence_for(citizen), "phone": "0987654321"}
    first = desk.post("/registrar/accounts", body)
    replay = desk.post("/registrar/accounts", body)
    assert first.status_code == replay.status_code == 201  # the recorded answer, replayed
    assert replay.json()["evidence_id"] == first.json()["evidence_id"]
    with Session(harness.engine) as session:
        account_id = account_of(harness, citizen.cccd).id
        rows = session.exec(select(LevelEvidence).where(LevelEvidence.account_id == account_id)).all()
    assert len(rows) == 1


def test_create_for_a_citizen_who_already_has_an_account_is_a_conflict(harness: Harness, desk: Desk) -> None:
    from tests.registrar.desk import citizen_of

    response = desk.post("/registrar/accounts", {**evidence_for(citizen_of(harness)), "phone": "0987654321"})
    assert response.status_code == 409 and response.json()["reason"] == "account_exists"


def test_create_with_a_deceased_registry_entry_is_refused(harness: Harness, desk: Desk) -> None:
    citizen = make_citizen(harness.engine, deceased=True)
    response = desk.post("/registrar/accounts", {**evidence_for(citizen), "phone": "0987654321"})
    assert response.status_code == 422 and response.json()["reason"] == "deceased"
    with Session(harness.engine) as session:
        from identity_service.storage.models import Account

        assert session.exec(select(Account).where(Account.cccd == citizen.cccd)).first() is None


def test_create_with_a_bad_phone_is_refused(harness: Harness, desk: Desk) -> None:
    citizen = make_citizen(harness.engine)
    response = desk.post("/registrar/accounts", {**evidence_for(citizen), "phone": "12345"})
    assert response.status_code == 400 and response.json()["reason"] == "invalid_phone"


def test_a_replay_naming_another_phone_sends_it_nothing(harness: Harness, desk: Desk) -> None:
    """The activation code sets the password of a level-2 account: it goes only to the phone on record."""
    citizen = make_citizen(harness.engine)
    body = {**evidence_for(citizen), "phone": "0987654321"}
    assert desk.post("/registrar/accounts", body).status_code == 201
    hijack = desk.post("/registrar/accounts", {**body, "phone": "0911111111"})
    assert hijack.status_code == 409, hijack.text
    outbox = read_outbox(harness.services.settings.data_dir / "sms_outbox.jsonl", limit=100)
    assert {m["phone"] for m in outbox} == {"+84987654321"}
    with Session(harness.engine) as session:
        account = account_of(harness, citizen.cccd)
        sends = session.exec(select(AuditEvent).where(AuditEvent.account_id == account.id,
                                                      AuditEvent.event == "account.activation_code_sent")).all()
    assert len(sends) == 1


def test_a_burnt_activation_code_is_replaced_by_a_resend_to_the_phone_on_record(harness: Harness, desk: Desk) -> None:
    citizen = make_citizen(harness.engine)
    assert desk.post("/registrar/accounts", {**evidence_for(citizen), "phone": "0987654321"}).status_code == 201
    for _ in range(5):  # someone else's wrong guesses burn the code
        harness.client.post("/api/activation",
                            json={"cccd": citizen.cccd, "code": "00000000", "password": NEW_PASSWORD})
    burnt = _activation_code(harness)
    assert harness.client.post("/api/activation", json={"cccd": citizen.cccd, "code": burnt,
                                                        "password": NEW_PASSWORD}).status_code == 400
    store = harness.services.store
    for key in store.scan("otp_cooldown"):  # the 60 s resend cooldown is not under test here
        store.delete("otp_cooldown", key)
    unknown = harness.client.post("/api/activation/code", json={"cccd": make_citizen(harness.engine).cccd})
    resent = harness.client.post("/api/activation/code", json={"cccd": citizen.cccd})
    assert unknown.status_code == resent.status_code == 202  # the same answer: nothing to enumerate
    fresh = _activation_code(harness)
    assert fresh != burnt
    activated = harness.client.post("/api/activation", json={"cccd": citizen.cccd, "code": fresh,
                                                             "password": NEW_PASSWORD})
    assert activated.status_code == 201, activated.text
    for _ in range(3):
        harness.client.post("/api/activation/code", json={"cccd": citizen.cccd})
    limited = harness.client.post("/api/activation/code", json={"cccd": citizen.cccd})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
