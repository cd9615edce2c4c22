"""Logging out another device: its session ends, its refresh tokens die, its clients are told."""

from __future__ import annotations

import jwt

from identity_service.web.account_actions import session_handle
from tests.account.browsers import (
    ANDROID_CHROME,
    authorize,
    capture_backchannel_logouts,
    log_in,
    new_browser,
    refresh_status,
    tokens_in,
    userinfo_status,
)
from tests.factories import make_account, make_citizen
from tests.harness import PASSWORD, REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import form_posting_to, forms_in


def test_the_device_list_marks_this_device_and_describes_the_others(harness: Harness) -> None:
    harness.login()
    phone = new_browser(harness, ANDROID_CHROME)
    log_in(phone, harness.cccd)
    page = harness.client.get("/account/sessions?lang=en").text
    assert "Chrome on Android" in page
    assert page.count("This device") == 1
    end_forms = [f for f in forms_in(page) if f.action == "/account/sessions/end"]
    assert len(end_forms) == 1  # only the other device can be logged out from here
    phone_sid = phone.cookies.get("ids_session")
    assert phone_sid and phone_sid not in page  # the session id is a credential: never shown


def test_logging_out_another_device_ends_its_session_and_revokes_its_tokens(harness: Harness) -> None:
    captured = capture_backchannel_logouts(harness)
    phone = new_browser(harness, ANDROID_CHROME)
    log_in(phone, harness.cccd)
    phone_tokens = tokens_in(phone, harness)
    phone_sid = phone.cookies.get("ids_session")
    harness.login()
    own_tokens = tokens_in(harness.client, harness)

    page = harness.client.get("/account/sessions").text
    [form] = [f for f in forms_in(page) if f.action == "/account/sessions/end"]
    response = harness.client.post("/account/sessions/end", data=form.fields, follow_redirects=False)
    assert response.status_code == 303 and "done=session_ended" in response.headers["location"]

    # The phone's session is gone: it can no longer authorize without logging in again.
    assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    _, challenge = pkce_pair()
    location = authorize(phone, harness, challenge, prompt="none")
    assert location.startswith(REDIRECT_URI) and "error=login_required" in location
    # Its refresh token (issued in that session) fails; its access token too.
    assert refresh_status(harness, phone_tokens["refresh_token"]) == (400, "invalid_grant")
    assert userinfo_status(harness, phone_tokens["access_token"]) == 401
    # The client it signed in to was told, naming that session.
    assert [(d.client_id, d.uri) for d in captured.deliveries] == [(harness.client_id,
                                                                     "https://rp.example/backchannel")]
    claims = jwt.decode(captured.deliveries[0].token, options={"verify_signature": False})
    assert claims["sid"] == phone_sid
    # This device is untouched.
    assert harness.client.get("/account", follow_redirects=False).status_code == 200
    assert refresh_status(harness, own_tokens["refresh_token"])[0] == 200
    assert "Chrome on Android" not in harness.client.get("/account/sessions?lang=en").text


def test_an_unknown_or_foreign_session_handle_ends_nothing(harness: Harness) -> None:
    citizen = make_citizen(harness.engine, full_name="Lê Văn Nam", family_name="Lê", given_name="Nam", sex="male")
    stranger_account = make_account(harness.engine, citizen, PASSWORD)
    stranger = new_browser(harness)
    log_in(stranger, citizen.cccd)
    [stranger_session] = harness.services.sessions.of_account(stranger_account.id)
    harness.login()
    token = form_posting_to(harness.client.get("/account").text, "/logout").fields["csrf_token"]
    for handle in (session_handle(stranger_session), "0" * 32, ""):
        response = harness.client.post("/account/sessions/end", data={"csrf_token": token, "session": handle},
                                       follow_redirects=False)
        assert response.status_code == 303 and "done=" not in response.headers["location"]
    assert stranger.get("/account", follow_redirects=False).status_code == 200
