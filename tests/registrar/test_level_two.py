"""Raising an account to level 2 at a desk: evidence checked against the registry, written once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import Session, col, select

from identity_service.identity.sms import read_outbox
from identity_service.storage.database import session_scope
from identity_service.storage.models import AuditEvent, Citizen, LevelEvidence, RecoveryCode
from tests.harness import Harness
from tests.registrar.desk import Desk, account_of, citizen_of, evidence_for, login


def _evidence_rows(harness: Harness, account_id: str) -> list[LevelEvidence]:
    with Session(harness.engine) as session:
        return list(session.exec(select(LevelEvidence).where(LevelEvidence.account_id == account_id)))


def _events(harness: Harness, account_id: str, event: str) -> list[AuditEvent]:
    with Session(harness.engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.account_id == account_id,
                                                          col(AuditEvent.event) == event)))


def _change_citizen(harness: Harness, cccd: str, **values: Any) -> None:
    with session_scope(harness.engine) as session:
        citizen = session.get(Citizen, cccd)
        assert citizen is not None
        for name, value in values.items():
            setattr(citizen, name, value)
        session.add(citizen)


def test_upgrade_with_evidence_writes_one_evidence_row_and_one_audit_event(harness: Harness, desk: Desk) -> None:
    citizen = citizen_of(harness)
    body = evidence_for(citizen)
    response = desk.post("/registrar/level2", body)
    assert response.status_code == 200, response.text
    assert response.json()["level"] == 2 and response.json()["action"] == "upgrade"
    account = account_of(harness)
    assert account.level == 2 and account.level_verified_at is not None
    [row] = _evidence_rows(harness, account.id)
    assert (row.registrar_client_id, row.request_id, row.officer_id, row.desk_id) == (
        desk.client_id, body["request_id"], "CA-HN-004512", "HN-HBT-03")
    assert row.chip_data_hash == body["chip_data_hash"] and row.card_number == citizen.card_number
    [event] = _events(harness, account.id, "account.level_raised")
    assert event.client_id == desk.client_id and event.details["evidence_id"] == row.id
    assert citizen.cccd not in str(event.details) and citizen.card_number not in str(event.details)  # no PII


def test_replayed_request_returns_the_first_answer_and_writes_nothing(harness: Harness, desk: Desk) -> None:
    body = evidence_for(citizen_of(harness))
    first = desk.post("/registrar/level2", body)
    replay = desk.post("/registrar/level2", body)  # a fresh assertion, the same request
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    account = account_of(harness)
    assert len(_evidence_rows(harness, account.id)) == 1
    assert len(_events(harness, account.id, "account.level_raised")) == 1


def test_replay_with_a_local_time_offset_is_still_the_same_request(harness: Harness, desk: Desk) -> None:
    hanoi = timezone(timedelta(hours=7))
    body = evidence_for(citizen_of(harness), verified_at=datetime.now(hanoi).isoformat(timespec="seconds"))
    first = desk.post("/registrar/level2", body)
    replay = desk.post("/registrar/level2", body)
    assert first.status_code == 200 and replay.status_code == 200, replay.text
    assert replay.json() == first.json()


def test_same_request_id_with_a_different_body_is_a_conflict(harness: Harness, desk: Desk) -> None:
    body = evidence_for(citizen_of(harness))
    assert desk.post("/registrar/level2", body).status_code == 200
    changed = desk.post("/registrar/level2", {**body, "chip_data_hash": "0" * 64})
    assert changed.status_code == 409 and changed.json()["reason"] == "request_id_reused"
    assert len(_evidence_rows(harness, account_of(harness).id)) == 1


@pytest.mark.parametrize(("registry", "evidence", "reason"), [
    ({}, {"card_number": "000000000000"}, "card_number_mismatch"),
    ({}, {"card_expiry": "2099-01-01"}, "card_expiry_mismatch"),
    ({"card_status": "revoked"}, {}, "card_revoked"),
    ({"deceased": True}, {}, "deceased"),
    ({"card_expiry": date.today() - timedelta(days=1)}, {"card_expiry": (date.today() - timedelta(days=1)).isoformat()},
     "card_expired"),
    ({}, {"face_check": "no_match"}, "face_check_failed"),
    ({}, {"fingerprint_check": "unclear"}, "fingerprint_check_failed"),
    ({}, {"verified_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}, "verification_stale"),
])
def test_evidence_the_registry_does_not_support_is_refused_with_its_reason(
    harness: Harness, desk: Desk, registry: dict[str, Any], evidence: dict[str, Any], reason: str
) -> None:
    _change_citizen(harness, harness.cccd, **registry)
    response = desk.post("/registrar/level2", evidence_for(citizen_of(harness), **evidence))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    account = account_of(harness)
    assert account.level == 1 and _evidence_rows(harness, account.id) == []


def test_upgrade_of_a_number_without_an_account_is_404(harness: Harness, desk: Desk) -> None:
    from tests.factories import make_citizen

    citizen = make_citizen(harness.engine)
    response = desk.post("/registrar/level2", evidence_for(citizen))
    assert response.status_code == 404 and response.json()["reason"] == "account_not_found"


def test_malformed_cccd_names_the_wrong_part(harness: Harness, desk: Desk) -> None:
    response = desk.post("/registrar/level2", evidence_for(citizen_of(harness), cccd="999000000001"))
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_cccd" and response.json()["part"]


def test_a_phone_the_citizen_does_not_confirm_resets_what_was_chosen_online(harness: Harness, desk: Desk) -> None:
    """An impostor who enrolled online with someone's data and their own phone gains nothing at level 2."""
    code, verifier = harness.obtain_code()  # logged in, with a refresh token
    tokens = harness.exchange(code, verifier).json()  # type: ignore[attr-defined]
    account = account_of(harness)
    harness.services.second_factors.generate_recovery_codes(account.id)

    response = desk.post("/registrar/level2", evidence_for(citizen_of(harness), phone="0987654321"))
    assert response.status_code == 200, response.text
    assert response.json()["credentials_reset"] is True and response.json()["activation_code_sent"] is True
    account = account_of(harness)
    assert (account.level, account.phone) == (2, "+84987654321")
    assert login(harness).status_code == 401  # the online password is gone
    assert harness.client.get("/account", follow_redirects=False).headers["location"] == "/login"
    refreshed = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]},
                                    auth=(harness.client_id, harness.client_secret))
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    with Session(harness.engine) as session:
        assert session.exec(select(RecoveryCode).where(RecoveryCode.account_id == account.id)).all() == []
    [sent] = read_outbox(harness.services.settings.data_dir / "sms_outbox.jsonl", limit=1)
    assert sent["phone"] == "+84987654321"  # the activation code goes to the confirmed phone only
    assert len(_events(harness, account.id, "account.credentials_reset")) == 1


def test_the_phone_on_record_keeps_the_credentials(harness: Harness, desk: Desk) -> None:
    harness.login()
    response = desk.post("/registrar/level2", evidence_for(citizen_of(harness)))  # the account's own phone
    assert response.status_code == 200 and response.json()["credentials_reset"] is False
    assert "activation_code_sent" not in response.json()
    assert harness.client.get("/account", follow_redirects=False).status_code == 200
