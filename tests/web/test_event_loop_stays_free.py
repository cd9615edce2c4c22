"""Page handlers never block the event loop: every Redis and SQL call runs in a worker thread.

DESIGN.md / STYLE.md §11: one blocking call on the loop stalls every other request of the process
(a Redis round trip, a PostgreSQL statement, an argon2id hash). The app runs here with an ephemeral
store and an engine that note every call made from the event-loop thread, and a citizen walks
through login, consent, a level-2 login with a second factor, the account centre, enrollment and
logout. Any call on the loop is a failure, named with the operation and where it came from.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from identity_service.app import create_app
from identity_service.services import build_services
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account
from tests.factories import make_account, make_citizen, make_client
from tests.harness import ISSUER, PASSWORD, REDIRECT_URI, Harness, pkce_pair, provider_settings, storage_stack
from tests.html_forms import form_posting_to, forms_in
from tests.sms_outbox import last_sms_code

LEVEL2 = "urn:eid:vn:level2"


def _on_event_loop() -> bool:
    """True in a thread that is running an asyncio event loop (worker threads run none)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _caller() -> str:
    """Where the call came from: the store or SQL caller, and the page code (web/) above it."""
    frames = [f for f in traceback.extract_stack()[:-3] if "identity_service" in f.filename]
    web = [f for f in frames if f"{Path('identity_service', 'web')}" in f.filename
           and not f.filename.endswith(("sessions.py", "security_headers.py", "body_limit.py"))]
    named = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in (frames[-1:] + web[-1:])]
    return " <- ".join(dict.fromkeys(named)) or "?"


class LoopWatch:
    """Where blocking calls were made from the event loop: ``what (file:line function)``."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def check(self, what: str) -> None:
        if _on_event_loop():
            self.violations.append(f"{what} ({_caller()})")


class LoopGuardedStore:
    """Any ephemeral store, with every call checked for the event-loop thread before it runs."""

    def __init__(self, inner: EphemeralStore, watch: LoopWatch) -> None:
        self._inner = inner
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if asyncio.iscoroutinefunction(attribute):  # an async store method is fine on the loop
                return attribute(*args, **kwargs)
            self._watch.check(f"store.{name}")
            return attribute(*args, **kwargs)

        return guarded


@pytest.fixture(params=["embedded", "postgresql+redis"])
def watched(request: pytest.FixtureRequest, tmp_path: Path,
            sqlite_engine: Engine) -> Iterator[tuple[Harness, LoopWatch]]:
    settings = provider_settings(tmp_path)
    engine, inner = storage_stack(request, sqlite_engine)
    watch = LoopWatch()
    citizen = make_citizen(engine)
    make_account(engine, citizen, PASSWORD)
    client_id, secret = make_client(engine, REDIRECT_URI)
    services = build_services(settings, engine=engine, store=LoopGuardedStore(inner, watch))  # type: ignore[arg-type]

    def on_statement(*_: object) -> None:
        watch.check("SQL statement")

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        with TestClient(create_app(settings, services), base_url=ISSUER) as client:
            yield Harness(client, services, engine, client_id, secret, citizen.cccd), watch
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def _post(browser: TestClient, page_html: str, action: str, **fields: str) -> Any:
    form = form_posting_to(page_html, action)
    return browser.post(action, data={**form.fields, **fields}, follow_redirects=False)


def _sms_code(harness: Harness) -> str:
    return last_sms_code(harness.services.settings.data_dir / "sms_outbox.jsonl")


def _to_client(browser: TestClient, response: Any) -> str:
    """Follow resume and consent steps until the browser is sent to the client."""
    location = str(response.headers["location"])
    for _ in range(6):
        if location.startswith(REDIRECT_URI):
            return location
        if location.startswith("/consent"):
            response = _post(browser, browser.get(location).text, "/consent", decision="allow")
        else:
            response = browser.get(location, follow_redirects=False)
        location = str(response.headers["location"])
    raise AssertionError(f"did not reach the client: {location}")


def _account_centre(harness: Harness, browser: TestClient) -> pyotp.TOTP:
    """Every /account page, then step up by SMS on /account/security and add an authenticator app."""
    for page in ("/account", "/account/sessions", "/account/services", "/account/history", "/account/password",
                 "/account/lock", "/account/security"):
        assert browser.get(page).status_code == 200, page
    refused = _post(browser, browser.get("/account/password").text, "/account/password",
                    current_password="not the password", new_password="x", new_password_confirm="y")
    assert refused.status_code == 400
    assert _post(browser, browser.get("/account/security").text, "/account/security/sms").status_code == 303
    verified = _post(browser, browser.get("/account/security?sent=sms").text, "/account/security/verify",
                     code=_sms_code(harness))
    assert verified.headers["location"] == "/account/security?done=verified"
    begun = _post(browser, browser.get("/account/security").text, "/account/security/totp")
    enrol = browser.get(begun.headers["location"])
    secret = enrol.text.split('id="totp-secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    totp = pyotp.TOTP(secret)
    confirmed = _post(browser, enrol.text, "/account/security/totp/confirm", code=totp.now())
    assert confirmed.headers["location"] == "/account/security?done=totp_added"
    return totp


def _level2_login(harness: Harness, totp: pyotp.TOTP) -> None:
    """A fresh browser: password, then the authenticator app's next code, consent, code."""
    browser = TestClient(harness.client.app, base_url=ISSUER)
    _, challenge = pkce_pair()
    query = harness.authorize_params(code_challenge=challenge, acr_values=LEVEL2)
    login = browser.get(browser.get("/authorize?" + urlencode(query), follow_redirects=False).headers["location"])
    second = _post(browser, login.text, "/login", cccd=harness.cccd, password=PASSWORD).headers["location"]
    assert second.startswith("/login/second-factor?req="), second
    page = browser.get(second)
    # A code was texted moments ago on /account/security: "too soon" is an answer too (a page, not a code).
    assert _post(browser, page.text, "/login/second-factor/sms").status_code in (303, 400)
    form = next(f for f in forms_in(browser.get(second).text) if f.action == "/login/second-factor"
                and f.fields.get("method") == "totp")
    # The code after the one used to confirm the app (a TOTP step is single use).
    code = totp.at(time.time() + 30)
    response = browser.post("/login/second-factor", data={**form.fields, "code": code}, follow_redirects=False)
    assert "code" in parse_qs(urlsplit(_to_client(browser, response)).query)


def _level_required(harness: Harness) -> None:
    """A level-1 account asked for level 2: the explanation page and its way back to the client."""
    other = make_citizen(harness.engine)
    make_account(harness.engine, other, PASSWORD)
    browser = TestClient(harness.client.app, base_url=ISSUER)
    query = harness.authorize_params(acr_values=LEVEL2)
    login = browser.get(browser.get("/authorize?" + urlencode(query), follow_redirects=False).headers["location"])
    location = _post(browser, login.text, "/login", cccd=other.cccd, password=PASSWORD).headers["location"]
    assert location.startswith("/login/level-required?req="), location
    back = _post(browser, browser.get(location).text, "/login/level-required")
    assert "unmet_authentication_requirements" in back.headers["location"]


def _enrollment(harness: Harness) -> None:
    """The enrollment pages up to the password step, with a registry entry that has no account yet."""
    citizen = make_citizen(harness.engine)
    browser = TestClient(harness.client.app, base_url=ISSUER)
    started = _post(browser, browser.get("/enroll").text, "/enroll", cccd=citizen.cccd, full_name=citizen.full_name,
                    birth_date=citizen.birth_date.isoformat(), phone="0912345678")
    assert started.status_code == 303, started.text
    verify = browser.get(started.headers["location"])
    wrong = _post(browser, verify.text, "/enroll/verify", code="000000" if _sms_code(harness) != "000000" else "111111")
    assert wrong.status_code == 400
    verified = _post(browser, verify.text, "/enroll/verify", code=_sms_code(harness))
    assert browser.get(verified.headers["location"]).status_code == 200


def test_no_page_handler_calls_redis_or_sql_on_the_event_loop(watched: tuple[Harness, LoopWatch]) -> None:
    harness, watch = watched
    browser = harness.client
    # Level 1: password login, the authorization request, consent, a code; again without consent.
    harness.login()
    location = _to_client(browser, browser.get("/authorize?" + urlencode(harness.authorize_params()),
                                               follow_redirects=False))
    assert "code" in parse_qs(urlsplit(location).query)
    silent = browser.get("/authorize?" + urlencode(harness.authorize_params(prompt="none")), follow_redirects=False)
    assert "code=" in silent.headers["location"]
    # The account centre, step-up and a new authenticator; then a level-2 login in another browser.
    with session_scope(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        account.level = 2
        db.add(account)
    totp = _account_centre(harness, browser)
    _level2_login(harness, totp)
    # The other browser's session is listed on the devices page and can be ended from here.
    devices = browser.get("/account/sessions")
    handles = [f.fields["session"] for f in forms_in(devices.text) if f.action == "/account/sessions/end"]
    assert handles
    assert _post(browser, devices.text, "/account/sessions/end", session=handles[0]).status_code == 303
    withdraw = browser.get(f"/account/services/withdraw?client_id={harness.client_id}")
    assert _post(browser, withdraw.text, "/account/services/withdraw", client_id=harness.client_id,
                 confirm="yes").status_code == 303
    _level_required(harness)
    _enrollment(harness)
    # RP-initiated logout without a hint asks first; the account page's button logs out.
    confirm = browser.get("/end_session?" + urlencode({"client_id": harness.client_id}))
    assert confirm.status_code == 200
    assert _post(browser, browser.get("/account").text, "/logout").status_code == 200
    assert watch.violations == [], "blocking calls on the event loop:\n" + "\n".join(dict.fromkeys(watch.violations))
