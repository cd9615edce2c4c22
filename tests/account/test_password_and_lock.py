"""Changing the password (current one first, policy, other sessions end) and the citizen's own lock."""

from __future__ import annotations

from sqlmodel import Session, select

from identity_service.storage.models import Account, AuditEvent
from identity_service.web.i18n import translator
from tests.account.browsers import log_in, new_browser, refresh_status, tokens_in
from tests.harness import PASSWORD, Harness
from tests.html_forms import form_posting_to

NEW_PASSWORD = "trăm-năm-trong-cõi-người-ta"


def _change(harness: Harness, current: str, new: str, confirm: str | None = None) -> tuple[int, str]:
    form = form_posting_to(harness.client.get("/account/password?lang=en").text, "/account/password")
    response = harness.client.post("/account/password", data={
        **form.fields, "current_password": current, "new_password": new,
        "new_password_confirm": new if confirm is None else confirm}, follow_redirects=False)
    return response.status_code, response.headers.get("location") or response.text


def _login_status(harness: Harness, password: str) -> int:
    browser = new_browser(harness)
    form = form_posting_to(browser.get("/login").text, "/login")
    response = browser.post("/login", data={**form.fields, "cccd": harness.cccd, "password": password},
                            follow_redirects=False)
    return response.status_code


def _events(harness: Harness, name: str) -> list[AuditEvent]:
    """This test's account's events called ``name`` (the database is shared by the whole run)."""
    with Session(harness.engine) as db:
        account_id = db.exec(select(Account.id).where(Account.cccd == harness.cccd)).one()
        return list(db.exec(select(AuditEvent).where(AuditEvent.event == name,
                                                     AuditEvent.account_id == account_id)).all())


def test_a_wrong_current_password_changes_nothing(harness: Harness) -> None:
    harness.login()
    status, page = _change(harness, "not-my-password", NEW_PASSWORD)
    assert status == 400
    assert translator("en")("error.password.current_wrong") in page
    assert _login_status(harness, PASSWORD) == 303
    assert _login_status(harness, NEW_PASSWORD) == 401


def test_the_new_password_follows_the_policy(harness: Harness) -> None:
    harness.login()
    t = translator("en")
    status, page = _change(harness, PASSWORD, "password")
    assert status == 400 and t("error.password.common") in page
    status, page = _change(harness, PASSWORD, "short")
    assert status == 400 and t("error.password.too_short") in page
    status, page = _change(harness, PASSWORD, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert status == 400 and t("error.password.mismatch") in page
    status, page = _change(harness, PASSWORD, f"my number is {harness.cccd}")
    assert status == 400 and t("error.password.contains_personal_data") in page
    assert _login_status(harness, PASSWORD) == 303


def test_a_changed_password_ends_the_other_sessions_and_the_old_one_fails(harness: Harness) -> None:
    phone = new_browser(harness)
    log_in(phone, harness.cccd)
    phone_tokens = tokens_in(phone, harness)
    harness.login()

    status, location = _change(harness, PASSWORD, NEW_PASSWORD)
    assert (status, location) == (303, "/account?done=password_changed")

    assert harness.client.get("/account", follow_redirects=False).status_code == 200  # this device stays
    assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert refresh_status(harness, phone_tokens["refresh_token"]) == (400, "invalid_grant")
    assert _login_status(harness, PASSWORD) == 401
    assert _login_status(harness, NEW_PASSWORD) == 303
    assert len(_events(harness, "password.changed")) == 1


def test_a_changed_password_revokes_refresh_tokens_that_outlived_their_session(harness: Harness) -> None:
    """Refresh tokens live 30 days, browser sessions 8 hours: ending sessions alone would miss them."""
    phone = new_browser(harness)
    log_in(phone, harness.cccd)
    old_tokens = tokens_in(phone, harness)
    sessions = harness.services.sessions
    sessions.end(str(phone.cookies.get(sessions.cookies.session)))  # that session expired long ago
    harness.login()
    mine = tokens_in(harness.client, harness)

    assert _change(harness, PASSWORD, NEW_PASSWORD) == (303, "/account?done=password_changed")
    assert refresh_status(harness, old_tokens["refresh_token"]) == (400, "invalid_grant")
    assert refresh_status(harness, mine["refresh_token"])[0] == 200  # this device keeps its tokens


def test_the_citizen_can_lock_the_account_and_the_login_page_says_how_to_unlock(harness: Harness) -> None:
    phone = new_browser(harness)
    log_in(phone, harness.cccd)
    phone_tokens = tokens_in(phone, harness)
    harness.login()
    form = form_posting_to(harness.client.get("/account/lock").text, "/account/lock")
    assert form.fields["confirm"] == "yes"
    response = harness.client.post("/account/lock?lang=en", data=form.fields)
    assert response.status_code == 200 and translator("en")("locked.title") in response.text

    with Session(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
    assert (account.status, account.status_reason) == ("locked", "citizen_request")
    assert harness.client.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert refresh_status(harness, phone_tokens["refresh_token"]) == (400, "invalid_grant")
    browser = new_browser(harness)
    login = form_posting_to(browser.get("/login?lang=en").text, "/login")
    refused = browser.post("/login", data={**login.fields, "cccd": harness.cccd, "password": PASSWORD})
    assert refused.status_code == 403
    assert translator("en")("error.login.locked.citizen_request") in refused.text
    [locked] = _events(harness, "account.locked")
    assert (locked.details["reason"], locked.details["previous_status"]) == ("citizen_request", "active")
