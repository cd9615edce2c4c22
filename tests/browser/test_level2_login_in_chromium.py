"""A real headless Chromium: a level-2 citizen turns on an authenticator app on /account/security (secret
read from the page, code computed with pyotp), then logs in to a client at level 2 with it."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pyotp
import pytest
from playwright.sync_api import Browser, Page
from sqlmodel import select

from identity_service.storage.database import session_scope
from identity_service.storage.models import Account
from tests.chromium import ARTIFACTS, capture_callbacks
from tests.factories import make_account, make_citizen, make_client
from tests.harness import pkce_pair
from tests.live_provider import Provider
from tests.sms_outbox import last_sms_code

pytestmark = pytest.mark.browser

REDIRECT_URI = "https://hospital.example/callback"
PASSWORD = "sông-Hồng-chảy-qua-Hà-Nội"


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()) // 30 * 30 + 5)

    def __call__(self) -> float:
        return self.now


def _log_in(page: Page, cccd: str) -> None:
    page.fill("input[name=cccd]", cccd)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form[action='/login'] [type=submit]").click()


def test_citizen_turns_on_totp_then_logs_in_at_level2_in_chromium(provider: Provider, browser: Browser) -> None:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    with session_scope(provider.engine) as db:  # what a registration desk does (registrar API elsewhere)
        account = db.exec(select(Account).where(Account.cccd == citizen.cccd)).one()
        account.level = 2
        db.add(account)
    client_id, client_secret = make_client(provider.engine, REDIRECT_URI)
    clock = Clock()
    provider.services.second_factors.clock = clock  # the provider runs in this process: no waiting for steps
    context = browser.new_context(locale="en-GB")
    page = context.new_page()

    # Account centre: password, then an SMS code to be allowed to change second factors.
    page.goto(f"{provider.base_url}/login")
    _log_in(page, citizen.cccd)
    page.wait_for_url("**/account")
    page.locator("a[href='/account/security']").click()
    page.wait_for_url("**/account/security")
    page.locator("form[action='/account/security/sms'] [type=submit]").click()
    page.wait_for_url("**/account/security?sent=sms")
    page.fill("#verify-sms-code", last_sms_code(provider.outbox))
    page.locator("form[action='/account/security/verify'] [type=submit]").first.click()
    page.wait_for_url("**/account/security?done=verified")

    # Turn on an authenticator app: the QR code is inline SVG; the secret is on the page for manual entry.
    page.locator("#add-authenticator").click()
    page.wait_for_url("**/account/security/totp?factor=**")
    assert page.locator("figure.qr svg").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "totp_enrol.png"), full_page=True)
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.fill("#totp-confirm-code", totp.at(clock.now))
    page.locator("#totp-confirm").click()
    page.wait_for_url("**/account/security?done=totp_added")

    # A fresh browser (no session) logs in to the hospital at level 2: password, then the app's code.
    context.close()
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    callbacks = capture_callbacks(page, "https://hospital.example/**")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid profile", "state": state, "nonce": "n2", "acr_values": "urn:eid:vn:level2",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    page.goto(f"{provider.base_url}/authorize?{urlencode(params)}")
    page.wait_for_url("**/login?req=**")
    _log_in(page, citizen.cccd)
    page.wait_for_url("**/login/second-factor?req=**")
    page.screenshot(path=str(ARTIFACTS / "second_factor.png"), full_page=True)
    # The confirming code's 30 s step is used up (RFC 6238 §5.2): the app shows the next one.
    clock.now += 30
    page.fill("#totp-code", totp.at(clock.now))
    page.locator("#totp-submit").click()
    page.wait_for_url("**/consent?req=**")
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url("https://hospital.example/**")
    query = parse_qs(urlsplit(callbacks[-1]).query)
    assert query["state"] == [state]
    tokens = httpx.post(f"{provider.base_url}/token", auth=(client_id, client_secret), data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier}).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["acr"] == "urn:eid:vn:level2"
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["identity_level"] == 2
    context.close()
