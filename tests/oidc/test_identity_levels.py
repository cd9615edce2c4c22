"""Identity levels in the protocol: acr_values, the acr claim request, client minimum, second factors, step-up.

DESIGN.md §2: a level-2 login needs a level-2 account and a second factor in this session; a level-1
account asking for level 2 sees a page and its client gets ``unmet_authentication_requirements``
(OIDC Core §3.1.2.6), never a code.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pyotp
import pytest
from sqlmodel import select

from identity_service.security.rate_limits import SECOND_FACTOR_PER_IP
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, AuditEvent
from tests.harness import PASSWORD, REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import form_posting_to, forms_in

LEVEL1 = "urn:eid:vn:level1"
LEVEL2 = "urn:eid:vn:level2"
ESSENTIAL_LEVEL2 = json.dumps({"id_token": {"acr": {"essential": True, "values": [LEVEL2]}}})


class Clock:
    """A TOTP clock the test moves by whole steps (no sleeping)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) // 30 * 30 + 5)

    def __call__(self) -> float:
        return self.now

    def next_step(self) -> None:
        self.now += 30


def _account_id(harness: Harness) -> str:
    with session_scope(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        return account.id


def _set_level(harness: Harness, level: int) -> None:
    with session_scope(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        account.level = level
        db.add(account)


def _set_client_min_level(harness: Harness, level: int) -> None:
    harness.update_client(min_level=level)


def _enrol_totp(harness: Harness, clock: Clock) -> pyotp.TOTP:
    service = harness.services.second_factors
    service.clock = clock
    enrolment = service.begin_totp(_account_id(harness), "001******456")
    totp = pyotp.TOTP(enrolment.secret)
    service.confirm_totp(_account_id(harness), enrolment.factor_id, totp.at(clock.now))
    clock.next_step()  # the confirming code's step is used up
    return totp


def _authorize(harness: Harness, challenge: str | None = None, **params: str) -> Any:
    _, default_challenge = pkce_pair()
    query = harness.authorize_params(code_challenge=challenge or default_challenge, **params)
    return harness.client.get("/authorize?" + urlencode(query), follow_redirects=False)


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def _second_factor_post(harness: Harness, location: str, method: str, code: str) -> Any:
    page = harness.client.get(location)
    assert page.status_code == 200, page.text
    form = next(f for f in forms_in(page.text) if f.action == "/login/second-factor"
                and f.fields.get("method") == method)
    return harness.client.post("/login/second-factor", data={**form.fields, "code": code}, follow_redirects=False)


def _follow_to_client(harness: Harness, response: Any) -> str:
    """Follow resume/consent steps to the client's redirect_uri; return that location."""
    location = response.headers["location"]
    for _ in range(5):
        if location.startswith(REDIRECT_URI):
            return str(location)
        if location.startswith("/consent"):
            page = harness.client.get(location)
            form = form_posting_to(page.text, "/consent")
            response = harness.client.post("/consent", data={**form.fields, "decision": "allow"},
                                           follow_redirects=False)
        else:
            response = harness.client.get(location, follow_redirects=False)
        location = response.headers["location"]
    raise AssertionError(f"did not reach the client: {location}")


def _password_then_second_factor_page(harness: Harness, **params: str) -> tuple[str, str]:
    """Authorization request → login form → password; returns (second-factor location, verifier)."""
    verifier, challenge = pkce_pair()
    response = _authorize(harness, challenge=challenge, **params)
    location = response.headers["location"]
    assert location.startswith("/login?req="), location
    page = harness.client.get(location)
    form = form_posting_to(page.text, "/login")
    response = harness.client.post("/login", data={**form.fields, "cccd": harness.cccd, "password": PASSWORD},
                                   follow_redirects=False)
    assert response.headers["location"].startswith("/login/second-factor?req="), response.headers["location"]
    return response.headers["location"], verifier


def _id_token(harness: Harness, location: str, verifier: str) -> dict[str, Any]:
    code = _query(location)["code"][0]
    body = harness.exchange(code, verifier).json()  # type: ignore[attr-defined]
    claims: dict[str, Any] = jwt.decode(body["id_token"], options={"verify_signature": False})
    claims["_tokens"] = body
    return claims


def _level2_login_with_totp(harness: Harness) -> dict[str, Any]:
    """A level-2 account with an authenticator app logs in at level 2: the ID token's claims."""
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    second_factor, verifier = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    response = _second_factor_post(harness, second_factor, "totp", totp.at(clock.now))
    return _id_token(harness, _follow_to_client(harness, response), verifier)


def _events(harness: Harness, name: str) -> list[AuditEvent]:
    with session_scope(harness.engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.event == name,
                                                     AuditEvent.account_id == _account_id(harness))).all())


# --- level-1 accounts asking for level 2 ----------------------------------------------------------

@pytest.mark.parametrize("how", ["acr_values", "essential_acr_claim", "client_min_level"])
def test_level1_account_asked_for_level2_sees_the_upgrade_page_and_the_client_gets_an_error(
    harness: Harness, how: str
) -> None:
    params: dict[str, str] = {}
    if how == "acr_values":
        params["acr_values"] = LEVEL2
    elif how == "essential_acr_claim":
        params["claims"] = ESSENTIAL_LEVEL2
    else:
        _set_client_min_level(harness, 2)
    harness.login()
    response = _authorize(harness, **params)
    location = response.headers["location"]
    assert location.startswith("/login/level-required?req="), location
    page = harness.client.get(location + "&lang=en")
    assert page.status_code == 403
    assert "registration desk" in page.text and "chip identity card" in page.text
    assert 'name="password"' not in page.text
    form = form_posting_to(page.text, "/login/level-required")
    back = harness.client.post("/login/level-required", data=form.fields, follow_redirects=False)
    assert back.headers["location"].startswith(REDIRECT_URI)
    query = _query(back.headers["location"])
    assert query["error"] == ["unmet_authentication_requirements"]
    assert query["state"] == ["st-1"] and "code" not in query
    # The request is finished: the page cannot be used again to reach the client.
    assert harness.client.post("/login/level-required", data=form.fields).status_code == 400


def test_level1_account_with_prompt_none_gets_the_error_directly(harness: Harness) -> None:
    harness.obtain_code()  # a session and a stored consent
    response = _authorize(harness, acr_values=LEVEL2, prompt="none")
    query = _query(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT_URI)
    assert query["error"] == ["unmet_authentication_requirements"] and "code" not in query


def test_level1_account_gets_level1_when_the_client_also_accepts_it(harness: Harness) -> None:
    verifier, challenge = pkce_pair()
    harness.login()
    response = _authorize(harness, challenge=challenge, acr_values=f"{LEVEL2} {LEVEL1}")
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL1 and claims["amr"] == ["pwd"] and claims["identity_level"] == 1


def test_a_level1_session_cannot_consent_its_way_past_the_level_check(harness: Harness) -> None:
    _set_level(harness, 2)
    harness.login()
    response = _authorize(harness, acr_values=LEVEL2)
    req = _query(response.headers["location"])["req"][0]
    page = harness.client.get("/login")  # any page: a CSRF token for this browser
    token = form_posting_to(page.text, "/login").fields["csrf_token"]
    forged = harness.client.post("/consent", data={"csrf_token": token, "req": req, "decision": "allow"},
                                 follow_redirects=False)
    assert forged.headers["location"] == f"/authorize/resume?req={req}"


# --- level-2 logins --------------------------------------------------------------------------------

def test_level2_login_with_totp_gets_acr_level2_and_amr_pwd_otp_mfa(harness: Harness) -> None:
    claims = _level2_login_with_totp(harness)
    assert claims["acr"] == LEVEL2
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["identity_level"] == 2
    assert abs(claims["auth_time"] - time.time()) < 120
    assert len(_events(harness, "second_factor.succeeded")) == 1
    assert len(_events(harness, "session.stepped_up")) == 1


def test_level2_account_without_a_level2_request_logs_in_with_the_password_only(harness: Harness) -> None:
    _set_level(harness, 2)
    code, verifier = harness.obtain_code()
    body = harness.exchange(code, verifier).json()  # type: ignore[attr-defined]
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["acr"] == LEVEL1 and claims["amr"] == ["pwd"] and claims["identity_level"] == 2


def test_wrong_and_replayed_totp_codes_are_refused(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    good = totp.at(clock.now)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    refused = _second_factor_post(harness, second_factor, "totp", wrong)
    assert refused.status_code == 401 and "location" not in refused.headers
    accepted = _second_factor_post(harness, second_factor, "totp", good)
    assert accepted.status_code == 303

    # Same code again in a new login (same 30 s step): RFC 6238 §5.2 forbids a second acceptance.
    harness.client.cookies.clear()
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    replay = _second_factor_post(harness, second_factor, "totp", good)
    assert replay.status_code == 401
    assert len(_events(harness, "second_factor.failed")) == 2


def test_second_factor_attempts_from_one_address_are_limited_with_429_and_retry_after(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    for _ in range(SECOND_FACTOR_PER_IP.limit):  # other accounts' attempts from this address used the window up
        harness.services.limiter.hit(SECOND_FACTOR_PER_IP, "testclient")  # Starlette's TestClient peer address
    limited = _second_factor_post(harness, second_factor, "totp", totp.at(clock.now))
    assert limited.status_code == 429 and "location" not in limited.headers
    assert 1 <= int(limited.headers["retry-after"]) <= SECOND_FACTOR_PER_IP.window
    assert _events(harness, "second_factor.succeeded") == []  # the (right) code was not even checked


def test_the_last_allowed_wrong_code_locks_the_account_and_ends_the_session(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    _enrol_totp(harness, clock)
    harness.services.limiter.lock_after = 2  # 100 in production (NIST SP 800-63B §5.2.2)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    assert _second_factor_post(harness, second_factor, "totp", "000000").status_code == 401
    locked = _second_factor_post(harness, second_factor, "totp", "000001")
    assert locked.status_code == 403
    with session_scope(harness.engine) as session:
        account = session.get(Account, _account_id(harness))
        assert account is not None and account.status_reason == "too_many_failed_logins"
    assert harness.client.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_sms_code_as_second_factor(harness: Harness) -> None:
    _set_level(harness, 2)
    second_factor, verifier = _password_then_second_factor_page(harness, claims=ESSENTIAL_LEVEL2)
    page = harness.client.get(second_factor)
    send = form_posting_to(page.text, "/login/second-factor/sms")
    sent = harness.client.post("/login/second-factor/sms", data=send.fields, follow_redirects=False)
    assert sent.headers["location"].endswith("&sent=sms")
    outbox = harness.services.settings.data_dir / "sms_outbox.jsonl"
    message = json.loads(outbox.read_text(encoding="utf-8").strip().splitlines()[-1])
    assert message["phone"] == "+84912345678"
    code = next(w.strip(".") for w in message["message"].split() if w.strip(".").isdigit() and len(w.strip(".")) == 6)
    response = _second_factor_post(harness, sent.headers["location"], "sms", code)
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2 and claims["amr"] == ["pwd", "sms", "mfa"]


def test_no_text_message_for_a_request_that_needs_no_second_factor(harness: Harness) -> None:
    _set_level(harness, 2)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    send = form_posting_to(harness.client.get(second_factor).text, "/login/second-factor/sms")
    level1 = _authorize(harness)  # a level-1 request in the same browser: the password session suffices
    assert level1.headers["location"].startswith(("/consent", REDIRECT_URI)), level1.headers["location"]
    outbox = harness.services.settings.data_dir / "sms_outbox.jsonl"
    before = outbox.read_text(encoding="utf-8") if outbox.exists() else ""
    _set_level(harness, 1)  # lowered at a desk meanwhile: it can no longer give a second factor
    refused = harness.client.post("/login/second-factor/sms", data=send.fields, follow_redirects=False)
    assert refused.headers["location"].startswith("/authorize/resume?req=")
    assert (outbox.read_text(encoding="utf-8") if outbox.exists() else "") == before


def test_a_recovery_code_works_once(harness: Harness) -> None:
    _set_level(harness, 2)
    codes = harness.services.second_factors.generate_recovery_codes(_account_id(harness))
    assert len(codes) == 10 and len(set(codes)) == 10
    second_factor, verifier = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    response = _second_factor_post(harness, second_factor, "recovery", codes[0].lower())
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2
    assert claims["amr"] == ["pwd", "urn:eid:vn:amr:recovery-code", "mfa"]

    harness.client.cookies.clear()
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    assert _second_factor_post(harness, second_factor, "recovery", codes[0]).status_code == 401
    assert _second_factor_post(harness, second_factor, "recovery", codes[1]).status_code == 303


# --- step-up -----------------------------------------------------------------------------------------

def test_step_up_from_a_level1_session_asks_only_for_the_second_factor(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    harness.obtain_code()  # logged in at level 1, consent stored
    cookie_name = harness.services.sessions.cookies.session
    level1_sid = harness.client.cookies.get(cookie_name)
    verifier, challenge = pkce_pair()
    response = _authorize(harness, challenge=challenge, acr_values=LEVEL2)
    location = response.headers["location"]
    assert location.startswith("/login/second-factor?req="), location  # not /login
    page = harness.client.get(location)
    assert 'type="password"' not in page.text and 'name="password"' not in page.text
    response = _second_factor_post(harness, location, "totp", totp.at(clock.now))
    assert response.headers["location"].startswith("/authorize/resume")
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2 and claims["amr"] == ["pwd", "otp", "mfa"]
    new_sid = harness.client.cookies.get(cookie_name)
    assert new_sid and new_sid != level1_sid  # no session fixation
    assert harness.services.store.get("session", str(level1_sid)) is None
    assert claims["sid"] == new_sid
    # The elevated session now serves level-2 requests without asking again.
    again = _authorize(harness, acr_values=LEVEL2)
    assert again.headers["location"].startswith(REDIRECT_URI)


def test_step_up_does_not_make_an_old_password_fresh(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    harness.obtain_code()
    sessions = harness.services.sessions
    sid = str(harness.client.cookies.get(sessions.cookies.session))
    record = sessions.store.get("session", sid)
    assert record is not None
    password_time = int(time.time()) - 3600  # the password was typed an hour ago
    record["auth_time"] = password_time
    sessions.store.put("session", sid, record, 600)
    verifier, challenge = pkce_pair()
    location = _authorize(harness, challenge=challenge, acr_values=LEVEL2).headers["location"]
    response = _second_factor_post(harness, location, "totp", totp.at(clock.now))
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2 and claims["auth_time"] == password_time
    # A client that wants a password at most a minute old still gets the login form.
    assert _authorize(harness, acr_values=LEVEL2, max_age="60").headers["location"].startswith("/login?req=")


def test_prompt_login_forces_password_and_second_factor_again(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    _follow_to_client(harness, _second_factor_post(harness, second_factor, "totp", totp.at(clock.now)))
    clock.next_step()
    second_factor, verifier = _password_then_second_factor_page(harness, acr_values=LEVEL2, prompt="login")
    response = _second_factor_post(harness, second_factor, "totp", totp.at(clock.now))
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2


def test_max_age_forces_password_and_second_factor_again(harness: Harness) -> None:
    _set_level(harness, 2)
    clock = Clock()
    totp = _enrol_totp(harness, clock)
    second_factor, _ = _password_then_second_factor_page(harness, acr_values=LEVEL2)
    _follow_to_client(harness, _second_factor_post(harness, second_factor, "totp", totp.at(clock.now)))
    sessions = harness.services.sessions
    sid = str(harness.client.cookies.get(sessions.cookies.session))
    record = sessions.store.get("session", sid)
    assert record is not None and record["acr"] == LEVEL2
    record["auth_time"] = int(time.time()) - 3600
    sessions.store.put("session", sid, record, 600)
    assert _authorize(harness, acr_values=LEVEL2, max_age="7200").headers["location"].startswith(REDIRECT_URI)
    clock.next_step()
    second_factor, verifier = _password_then_second_factor_page(harness, acr_values=LEVEL2, max_age="60")
    response = _second_factor_post(harness, second_factor, "totp", totp.at(clock.now))
    claims = _id_token(harness, _follow_to_client(harness, response), verifier)
    assert claims["acr"] == LEVEL2 and time.time() - claims["auth_time"] < 120


def test_prompt_none_needing_a_second_factor_is_login_required(harness: Harness) -> None:
    _set_level(harness, 2)
    harness.obtain_code()
    response = _authorize(harness, acr_values=LEVEL2, prompt="none")
    assert _query(response.headers["location"])["error"] == ["login_required"]


def test_refreshed_tokens_keep_the_original_acr_amr_and_auth_time(harness: Harness) -> None:
    claims = _level2_login_with_totp(harness)
    refreshed = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": claims["_tokens"]["refresh_token"]},
                                    auth=(harness.client_id, harness.client_secret))
    assert refreshed.status_code == 200, refreshed.text
    access = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert access["acr"] == LEVEL2 and access["amr"] == ["pwd", "otp", "mfa"]
    assert access["auth_time"] == claims["auth_time"]


def test_discovery_lists_both_levels(harness: Harness) -> None:
    metadata = harness.client.get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == [LEVEL1, LEVEL2]
