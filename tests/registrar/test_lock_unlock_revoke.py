"""Lock, unlock and revoke at a desk: login refused with the reason, tokens and sessions end at once."""

from __future__ import annotations

import html
import secrets
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, select

from identity_service.storage.models import AuditEvent
from identity_service.web.i18n import translator
from tests.harness import Harness
from tests.registrar.desk import Desk, account_of, login


def _status(desk: Desk, action: str, reason: str | None = "citizen_request", request_id: str | None = None,
            cccd: str | None = None) -> Any:
    body: dict[str, Any] = {"request_id": request_id or secrets.token_hex(8), "cccd": cccd or desk.harness.cccd}
    if reason is not None:
        body["reason"] = reason
    return desk.post(f"/registrar/{action}", body)


def _tokens(harness: Harness) -> dict[str, str]:
    code, verifier = harness.obtain_code()
    response = harness.exchange(code, verifier)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    return response.json()  # type: ignore[attr-defined, no-any-return]


def _introspect(harness: Harness, token: str) -> dict[str, Any]:
    response = harness.client.post("/introspect", data={"token": token},
                                   auth=(harness.client_id, harness.client_secret))
    return response.json()  # type: ignore[no-any-return]


def _refresh(harness: Harness, refresh_token: str) -> Any:
    return harness.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                               auth=(harness.client_id, harness.client_secret))


def _authorize_goes_to_login(harness: Harness) -> bool:
    url = "/authorize?" + urlencode(harness.authorize_params())
    return harness.client.get(url, follow_redirects=False).headers["location"].startswith("/login")


def test_lock_refuses_login_with_the_reason_and_ends_tokens_and_sessions(harness: Harness, desk: Desk) -> None:
    tokens = _tokens(harness)  # the browser now also holds a login session
    assert _introspect(harness, tokens["access_token"])["active"] is True
    assert not _authorize_goes_to_login(harness)

    locked = _status(desk, "lock", "citizen_request")
    assert locked.status_code == 200, locked.text
    assert locked.json()["status"] == "locked" and locked.json()["status_reason"] == "citizen_request"

    assert _introspect(harness, tokens["access_token"]) == {"active": False}
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                              ).status_code == 401
    assert _refresh(harness, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert _authorize_goes_to_login(harness)  # the browser session ended
    refused = login(harness)
    assert refused.status_code == 403
    assert html.escape(translator("vi")("error.login.locked.citizen_request")) in refused.text


def test_unlock_restores_login_but_not_the_old_tokens(harness: Harness, desk: Desk) -> None:
    tokens = _tokens(harness)
    assert _status(desk, "lock", "authority_request").status_code == 200
    unlocked = _status(desk, "unlock", None)
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "active"
    assert login(harness).status_code == 303
    assert not _authorize_goes_to_login(harness)  # a session made after the unlock counts
    assert _refresh(harness, tokens["refresh_token"]).status_code == 400  # tokens from before the lock stay dead
    assert _introspect(harness, tokens["access_token"]) == {"active": False}


def test_every_action_is_audited_with_the_desk_and_officer(harness: Harness, desk: Desk) -> None:
    _status(desk, "lock", "card_revoked")
    _status(desk, "unlock", None)
    account = account_of(harness)
    with Session(harness.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.account_id == account.id,
                                                       col(AuditEvent.client_id) == desk.client_id)
                              .order_by(col(AuditEvent.id))).all()
    assert [e.event for e in events] == ["account.locked", "account.unlocked"]
    assert all(e.details["officer_id"] == "CA-HN-004512" and e.details["desk_id"] == "HN-HBT-03" for e in events)


def test_replayed_lock_returns_the_first_answer_without_a_second_event(harness: Harness, desk: Desk) -> None:
    first = _status(desk, "lock", "citizen_request", request_id="lock-req-0001")
    replay = _status(desk, "lock", "citizen_request", request_id="lock-req-0001")
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    other = _status(desk, "lock", "authority_request", request_id="lock-req-0001")
    assert other.status_code == 409 and other.json()["reason"] == "request_id_reused"
    with Session(harness.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.account_id == account_of(harness).id,
                                                       col(AuditEvent.event) == "account.locked")).all()
    assert len(events) == 1


def test_revoked_is_final_and_deceased_cannot_be_unlocked(harness: Harness, desk: Desk) -> None:
    assert _status(desk, "revoke", "deceased").json()["status"] == "revoked"
    refused = _status(desk, "unlock", None)
    assert refused.status_code == 409 and refused.json()["reason"] == "account_revoked"
    assert login(harness).status_code == 403


def test_unlocking_an_active_account_or_an_unknown_number_is_refused(harness: Harness, desk: Desk) -> None:
    assert _status(desk, "unlock", None).json()["reason"] == "account_not_locked"
    from tests.factories import make_citizen

    stranger = make_citizen(harness.engine)
    response = _status(desk, "lock", cccd=stranger.cccd)
    assert response.status_code == 404 and response.json()["reason"] == "account_not_found"


def test_an_unknown_reason_is_a_400(harness: Harness, desk: Desk) -> None:
    response = _status(desk, "lock", "because")
    assert response.status_code == 400 and response.json()["reason"] == "invalid_request"
    assert account_of(harness).status == "active"
