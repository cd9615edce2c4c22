"""Authorization endpoint rules (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.harness import PASSWORD, REDIRECT_URI, Harness
from tests.html_forms import form_posting_to


def _authorize(harness: Harness, **overrides: str) -> object:
    return harness.client.get("/authorize?" + urlencode(harness.authorize_params(**overrides)),
                              follow_redirects=False)


def _error_redirect(response: object) -> dict[str, list[str]]:
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith(REDIRECT_URI), location
    return parse_qs(urlsplit(location).query)


def test_valid_request_without_session_goes_to_login(harness: Harness) -> None:
    response = _authorize(harness)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?req=")


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback",
    REDIRECT_URI + "/",
    REDIRECT_URI + "?x=1",
    REDIRECT_URI.upper(),
    "https://rp.example/callback#frag",
])
def test_redirect_uri_that_is_not_an_exact_match_is_refused_without_redirect(
    harness: Harness, redirect_uri: str
) -> None:
    response = _authorize(harness, redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


def test_missing_redirect_uri_is_refused_without_redirect(harness: Harness) -> None:
    params = harness.authorize_params()
    del params["redirect_uri"]
    response = harness.client.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_unknown_client_is_refused_without_redirect(harness: Harness) -> None:
    response = _authorize(harness, client_id="no-such-client")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_missing_pkce_challenge_is_an_invalid_request_sent_back_to_the_client(harness: Harness) -> None:
    params = harness.authorize_params()
    del params["code_challenge"], params["code_challenge_method"]
    response = harness.client.get("/authorize?" + urlencode(params), follow_redirects=False)
    query = _error_redirect(response)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st-1"]
    assert query["iss"] == ["http://localhost:8000"]


def test_plain_pkce_method_is_refused(harness: Harness) -> None:
    query = _error_redirect(_authorize(harness, code_challenge_method="plain"))
    assert query["error"] == ["invalid_request"]


def test_response_type_other_than_code_is_refused(harness: Harness) -> None:
    query = _error_redirect(_authorize(harness, response_type="token"))
    assert query["error"] == ["unsupported_response_type"]


def test_request_without_openid_scope_is_refused(harness: Harness) -> None:
    query = _error_redirect(_authorize(harness, scope="profile"))
    assert query["error"] == ["invalid_scope"]


def test_prompt_none_without_session_returns_login_required(harness: Harness) -> None:
    query = _error_redirect(_authorize(harness, prompt="none"))
    assert query["error"] == ["login_required"]
    assert query["state"] == ["st-1"]


def test_prompt_none_without_consent_returns_consent_required(harness: Harness) -> None:
    harness.login()
    query = _error_redirect(_authorize(harness, prompt="none"))
    assert query["error"] == ["consent_required"]


def test_duplicated_parameter_is_refused(harness: Harness) -> None:
    query = urlencode(harness.authorize_params()) + "&state=second"
    response = harness.client.get("/authorize?" + query, follow_redirects=False)
    assert response.status_code in (303, 400)
    if response.status_code == 303:
        assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]


def test_denied_consent_returns_access_denied(harness: Harness) -> None:
    from tests.html_forms import form_posting_to

    harness.login()
    response = _authorize(harness)
    page = harness.client.get(response.headers["location"])
    form = form_posting_to(page.text, "/consent")
    response = harness.client.post("/consent", data={**form.fields, "decision": "deny"}, follow_redirects=False)
    assert _error_redirect(response)["error"] == ["access_denied"]


def test_the_password_post_goes_straight_to_consent_which_names_the_account_masked(harness: Harness) -> None:
    login = harness.client.get(_authorize(harness).headers["location"])
    form = form_posting_to(login.text, "/login")
    response = harness.client.post("/login", data={**form.fields, "cccd": harness.cccd, "password": PASSWORD},
                                   follow_redirects=False)
    assert response.headers["location"].startswith("/consent?req=")
    page = harness.client.get(response.headers["location"]).text
    assert f"{harness.cccd[:3]}******{harness.cccd[-3:]}" in page and harness.cccd not in page


def test_the_consent_page_of_an_open_session_names_the_account_masked(harness: Harness) -> None:
    harness.login()
    page = harness.client.get(_authorize(harness).headers["location"]).text
    assert f"{harness.cccd[:3]}******{harness.cccd[-3:]}" in page and harness.cccd not in page


def test_code_response_carries_state_and_issuer(harness: Harness) -> None:
    code, _ = harness.obtain_code()
    assert code


def test_expired_or_unknown_pending_request_shows_a_page(harness: Harness) -> None:
    response = harness.client.get("/authorize/resume?req=unknown", follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_prompt_login_forces_a_new_login_even_with_a_session(harness: Harness) -> None:
    harness.obtain_code()
    response = _authorize(harness, prompt="login")
    assert response.headers["location"].startswith("/login?req=")


def test_existing_session_and_consent_return_a_code_without_pages(harness: Harness) -> None:
    harness.obtain_code()
    response = _authorize(harness)
    assert response.headers["location"].startswith(REDIRECT_URI)
    assert "code" in parse_qs(urlsplit(response.headers["location"]).query)


def test_prompt_consent_asks_again_even_with_a_stored_consent(harness: Harness) -> None:
    harness.obtain_code()
    response = _authorize(harness, prompt="consent")
    assert response.headers["location"].startswith("/consent?req=")


def test_max_age_shorter_than_the_session_age_forces_a_new_login(harness: Harness) -> None:
    harness.obtain_code()
    session = harness.services.sessions
    sid = harness.client.cookies.get(session.cookies.session)
    record = session.store.get("session", sid)
    assert record is not None
    record["auth_time"] = int(time.time()) - 3600  # logged in an hour ago
    session.store.put("session", sid, record, 600)
    response = _authorize(harness, max_age="60")
    assert response.headers["location"].startswith("/login?req=")
    fresh = _authorize(harness, max_age="7200")
    assert fresh.headers["location"].startswith(REDIRECT_URI)


def test_negative_max_age_is_invalid_request(harness: Harness) -> None:
    query = _error_redirect(_authorize(harness, max_age="-1"))
    assert query["error"] == ["invalid_request"]


@pytest.mark.parametrize("params", [{"prompt": "login consent"}, {"max_age": "60", "prompt": "consent"}])
def test_the_consent_form_cannot_be_reached_around_a_forced_login(harness: Harness, params: dict[str, str]) -> None:
    """Someone at a shared computer with the citizen's old session open must not skip the login."""
    harness.obtain_code()
    sessions = harness.services.sessions
    sid = harness.client.cookies.get(sessions.cookies.session)
    record = sessions.store.get("session", sid)
    assert record is not None
    record["auth_time"] = int(time.time()) - 3600  # the citizen logged in an hour ago
    sessions.store.put("session", sid, record, 600)
    login = _authorize(harness, **params).headers["location"]
    assert login.startswith("/login?req=")
    req = parse_qs(urlsplit(login).query)["req"][0]
    page = harness.client.get(login)
    csrf = form_posting_to(page.text, "/login").fields["csrf_token"]
    shown = harness.client.get(f"/consent?req={req}", follow_redirects=False)
    posted = harness.client.post("/consent", data={"csrf_token": csrf, "req": req, "decision": "allow"},
                                 follow_redirects=False)
    for response in (shown, posted):
        assert response.status_code == 303
        assert response.headers["location"] == f"/authorize/resume?req={req}"
    # ...and going back through the flow still asks for the login.
    resumed = harness.client.get(f"/authorize/resume?req={req}", follow_redirects=False)
    assert resumed.headers["location"].startswith("/login?req=")
