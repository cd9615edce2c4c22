"""Abuse limits: login back-off and lock (NIST SP 800-63B §5.2.2), per-IP and per-number limits."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlmodel import Session, select

from identity_service.security.rate_limits import Limit
from identity_service.storage.models import Account, AuditEvent
from tests.factories import make_citizen
from tests.harness import PASSWORD, Harness
from tests.html_forms import form_posting_to


def _login(harness: Harness, cccd: str, password: str) -> httpx.Response:
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    return harness.client.post("/login", data={**form.fields, "cccd": cccd, "password": password},
                               follow_redirects=False)


def test_repeated_failures_slow_the_number_down_even_for_the_right_password(harness: Harness) -> None:
    statuses = [_login(harness, harness.cccd, "wrong password").status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5
    blocked = _login(harness, harness.cccd, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    harness.services.limiter.clear(harness.cccd)  # what the operator command does
    assert _login(harness, harness.cccd, PASSWORD).status_code == 303


def test_unknown_numbers_are_throttled_the_same_way(harness: Harness) -> None:
    unknown = "079190" + f"{secrets.randbelow(10**6):06d}"
    statuses = [_login(harness, unknown, "x").status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429


def test_success_resets_the_failure_count(harness: Harness) -> None:
    for _ in range(4):
        _login(harness, harness.cccd, "wrong")
    assert _login(harness, harness.cccd, PASSWORD).status_code == 303
    for _ in range(4):
        assert _login(harness, harness.cccd, "wrong").status_code == 401  # counting starts again


def test_the_failure_ceiling_locks_the_account(harness: Harness) -> None:
    limiter = harness.services.limiter
    limiter.free_failures, limiter.lock_after = 1000, 3  # reach the ceiling without waiting out back-offs
    for _ in range(3):
        assert _login(harness, harness.cccd, "wrong").status_code == 401
    locked = _login(harness, harness.cccd, PASSWORD)
    assert locked.status_code == 403
    with Session(harness.engine) as session:
        account = session.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        assert (account.status, account.status_reason) == ("locked", "too_many_failed_logins")
        assert session.exec(select(AuditEvent).where(AuditEvent.event == "account.locked",
                                                     AuditEvent.account_id == account.id)).first() is not None


def test_one_address_cannot_spray_many_numbers(harness: Harness) -> None:
    statuses = [_login(harness, "079190" + f"{i:06d}", "x").status_code for i in range(62)]
    assert statuses[:60] == [401] * 60
    assert statuses[-1] == 429


def test_enrollment_for_one_number_is_rate_limited(harness: Harness) -> None:
    citizen = make_citizen(harness.engine)
    body = {"cccd": citizen.cccd, "full_name": citizen.full_name, "birth_date": citizen.birth_date.isoformat(),
            "phone": "0912345678"}
    statuses = [harness.client.post("/api/enrollment", json=body).status_code for _ in range(6)]
    assert statuses[:5] == [201] * 5
    limited = harness.client.post("/api/enrollment", json=body)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) > 0


def test_token_endpoint_limits_each_client_and_address(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("identity_service.oidc.token.TOKEN_PER_CLIENT", Limit("token_client", 3, 60))
    statuses = [harness.client.post("/token", data={"grant_type": "client_credentials"},
                                    auth=(harness.client_id, harness.client_secret)).status_code for _ in range(4)]
    assert statuses[:3] == [400, 400, 400]  # unauthorized_client: counted, then answered normally
    assert statuses[3] == 429
    other = harness.client.post("/token", data={"grant_type": "client_credentials"}, auth=("another", "x"))
    assert other.status_code == 401  # another client's budget is untouched


def test_locked_page_says_why_and_how_to_unlock(harness: Harness) -> None:
    with Session(harness.engine) as session:
        account = session.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        account.status, account.status_reason = "locked", "citizen_request"
        session.add(account)
        session.commit()
    response = _login(harness, harness.cccd, PASSWORD)
    assert response.status_code == 403
    assert "theo yêu cầu của bạn" in response.text  # "locked at your request", with how to unlock
    wrong = _login(harness, harness.cccd, "wrong password")
    assert wrong.status_code == 401  # a wrong password never learns the account is locked


def test_the_token_limit_cannot_be_escaped_by_spelling_the_client_id_differently(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Basic credentials are form-urlencoded (RFC 6749 §2.3.1): %74est and test are one client, one budget."""
    monkeypatch.setattr("identity_service.oidc.token.TOKEN_PER_CLIENT", Limit("token_client", 2, 60))
    spellings = [harness.client_id, "%" + format(ord(harness.client_id[0]), "02x") + harness.client_id[1:],
                 harness.client_id[:-1] + "%" + format(ord(harness.client_id[-1]), "02x")]
    statuses = [harness.client.post("/token", data={"grant_type": "client_credentials"},
                                    auth=(spelling, harness.client_secret)).status_code for spelling in spellings]
    assert statuses[2] == 429
