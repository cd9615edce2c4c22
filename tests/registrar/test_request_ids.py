"""A registrar's request_id names one request, whatever account or action it is sent for.

The first answer is recorded in ``registrar_requests`` in the transaction of the action itself: the
same request again gets that answer (``Idempotent-Replayed: true``); the same request_id with any
other body (another account, action or reason) is ``409 request_id_reused`` and changes nothing.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from identity_service.identity.account_status import StatusAction, StatusOutcome, change_status_at_desk
from identity_service.identity.level_evidence import RegistrarRequest
from identity_service.identity.registrar_requests import (
    AlreadyAnswered,
    IdempotencyKey,
    IdempotentRequest,
    RequestIdReused,
)
from identity_service.storage.models import AuditEvent, RegistrarRequestRecord
from tests.factories import make_account, make_citizen, make_client
from tests.harness import PASSWORD, REDIRECT_URI, Harness
from tests.registrar.desk import Desk, account_of, citizen_of, evidence_for, new_key


def _second_account(harness: Harness) -> str:
    citizen = make_citizen(harness.engine)
    make_account(harness.engine, citizen, PASSWORD)
    return citizen.cccd


def _records(harness: Harness, client_id: str, request_id: str) -> int:
    with Session(harness.engine) as db:
        return db.exec(select(func.count()).select_from(RegistrarRequestRecord).where(
            RegistrarRequestRecord.registrar_client_id == client_id,
            RegistrarRequestRecord.request_id == request_id)).one()


def test_a_lock_request_id_reused_for_another_account_is_refused(harness: Harness, desk: Desk) -> None:
    other = _second_account(harness)
    first = desk.post("/registrar/lock", {"request_id": "rid-lock-0001", "cccd": harness.cccd,
                                          "reason": "citizen_request"})
    assert first.status_code == 200, first.text
    reused = desk.post("/registrar/lock", {"request_id": "rid-lock-0001", "cccd": other,
                                           "reason": "citizen_request"})
    assert reused.status_code == 409 and reused.json()["reason"] == "request_id_reused"
    assert reused.headers["content-type"] == "application/problem+json"
    assert account_of(harness, other).status == "active"
    assert _records(harness, desk.client_id, "rid-lock-0001") == 1


def test_a_request_id_reused_for_another_action_is_refused(harness: Harness, desk: Desk) -> None:
    assert desk.post("/registrar/lock", {"request_id": "rid-act-00001", "cccd": harness.cccd,
                                         "reason": "citizen_request"}).status_code == 200
    unlock = desk.post("/registrar/unlock", {"request_id": "rid-act-00001", "cccd": harness.cccd})
    assert unlock.status_code == 409 and unlock.json()["reason"] == "request_id_reused"
    assert account_of(harness).status == "locked"
    upgrade = desk.post("/registrar/level2", evidence_for(citizen_of(harness), request_id="rid-act-00001"))
    assert upgrade.status_code == 409 and upgrade.json()["reason"] == "request_id_reused"


def test_an_upgrade_request_id_reused_for_another_account_is_refused(harness: Harness, desk: Desk) -> None:
    other = _second_account(harness)
    first = desk.post("/registrar/level2", evidence_for(citizen_of(harness), request_id="rid-upgrade-01"))
    assert first.status_code == 200, first.text
    reused = desk.post("/registrar/level2", evidence_for(citizen_of(harness, other), request_id="rid-upgrade-01"))
    assert reused.status_code == 409 and reused.json()["reason"] == "request_id_reused"
    assert account_of(harness, other).level == 1


def test_unlock_and_revoke_replays_return_the_recorded_answer(harness: Harness, desk: Desk) -> None:
    desk.post("/registrar/lock", {"request_id": "rid-rep-lock1", "cccd": harness.cccd, "reason": "card_revoked"})
    for action, body in (("unlock", {"request_id": "rid-rep-unlk1", "cccd": harness.cccd}),
                         ("revoke", {"request_id": "rid-rep-revk1", "cccd": harness.cccd, "reason": "deceased"})):
        first = desk.post(f"/registrar/{action}", body)
        replay = desk.post(f"/registrar/{action}", body)
        assert first.status_code == replay.status_code == 200, replay.text
        assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
    with Session(harness.engine) as db:
        events = db.exec(select(AuditEvent.event).where(AuditEvent.account_id == account_of(harness).id,
                                                        col(AuditEvent.client_id) == desk.client_id)).all()
    assert sorted(events) == ["account.locked", "account.revoked", "account.unlocked"]


def test_the_same_request_id_from_another_desk_client_is_another_request(harness: Harness, desk: Desk) -> None:
    private, public_jwk = new_key()
    client_id, _ = make_client(harness.engine, REDIRECT_URI, scopes="registrar", grant_types=("client_credentials",),
                               auth_method="private_key_jwt", jwks={"keys": [public_jwk]})
    other_desk = Desk(harness, client_id, private, public_jwk["kid"])
    assert desk.post("/registrar/lock", {"request_id": "rid-desk-0001", "cccd": harness.cccd,
                                         "reason": "citizen_request"}).status_code == 200
    unlocked = other_desk.post("/registrar/unlock", {"request_id": "rid-desk-0001", "cccd": harness.cccd})
    assert unlocked.status_code == 200 and "idempotent-replayed" not in unlocked.headers


def test_a_refused_request_records_nothing_so_it_can_be_corrected(harness: Harness, desk: Desk) -> None:
    refused = desk.post("/registrar/unlock", {"request_id": "rid-fix-00001", "cccd": harness.cccd})
    assert refused.status_code == 409 and refused.json()["reason"] == "account_not_locked"
    assert _records(harness, desk.client_id, "rid-fix-00001") == 0
    locked = desk.post("/registrar/lock", {"request_id": "rid-fix-00001", "cccd": harness.cccd,
                                           "reason": "citizen_request"})
    assert locked.status_code == 200 and "idempotent-replayed" not in locked.headers


def _key(client_id: str, request_id: str, body: str) -> IdempotencyKey:
    return IdempotencyKey(client_id, request_id, "lock", body)


def test_the_answer_is_written_in_the_actions_transaction(harness: Harness, desk: Desk) -> None:
    """If recording the answer fails, the lock and its audit event are rolled back with it."""
    def broken_answer(outcome: StatusOutcome) -> dict[str, Any]:
        raise RuntimeError("answer could not be recorded")

    request = RegistrarRequest(desk.client_id, "officer-1", "desk-1", "rid-atomic-01")
    idempotency = IdempotentRequest(_key(desk.client_id, "rid-atomic-01", "a" * 64), 200, broken_answer)
    with pytest.raises(RuntimeError):
        change_status_at_desk(harness.services.account_access, harness.cccd, StatusAction.LOCK, "citizen_request",
                              request, idempotency)
    assert account_of(harness).status == "active"
    with Session(harness.engine) as db:
        assert db.exec(select(AuditEvent).where(AuditEvent.account_id == account_of(harness).id,
                                                AuditEvent.event == "account.locked")).first() is None
    assert _records(harness, desk.client_id, "rid-atomic-01") == 0


def test_two_accounts_racing_for_one_request_id_change_only_one(harness: Harness, desk: Desk) -> None:
    cccds = [_second_account(harness), _second_account(harness)]
    request_id = f"rid-race-{secrets.token_hex(4)}"
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def lock(cccd: str) -> None:
        request = RegistrarRequest(desk.client_id, "officer-1", "desk-1", request_id)
        idempotency = IdempotentRequest(_key(desk.client_id, request_id, cccd.rjust(64, "0")), 200,
                                        lambda outcome: {"status": outcome.status})
        barrier.wait()
        try:
            change_status_at_desk(harness.services.account_access, cccd, StatusAction.LOCK, "citizen_request",
                                  request, idempotency)
            results[cccd] = "locked"
        except RequestIdReused:
            results[cccd] = "request_id_reused"
        except AlreadyAnswered:
            results[cccd] = "replayed"

    threads = [threading.Thread(target=lock, args=(cccd,)) for cccd in cccds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == ["locked", "request_id_reused"]
    statuses = {cccd: account_of(harness, cccd).status for cccd in cccds}
    assert sorted(statuses.values()) == ["active", "locked"]
    assert [c for c, r in results.items() if r == "locked"] == [c for c, s in statuses.items() if s == "locked"]
