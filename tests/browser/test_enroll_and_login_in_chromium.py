"""A real headless Chromium enrolls a level-1 account through the pages, then logs in to a client."""

from __future__ import annotations

import secrets
from datetime import date
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser

from tests.chromium import ARTIFACTS, capture_callbacks
from tests.factories import make_citizen, make_client
from tests.harness import pkce_pair
from tests.live_provider import Provider
from tests.sms_outbox import last_sms_code

pytestmark = pytest.mark.browser

REDIRECT_URI = "https://hospital.example/callback"


def test_citizen_enrolls_then_logs_in_to_a_client_in_chromium(provider: Provider, browser: Browser) -> None:
    citizen = make_citizen(provider.engine, full_name="Trần Văn Minh", family_name="Trần", given_name="Minh",
                           sex="male", birth_date=date(1985, 3, 9))
    client_id, _ = make_client(provider.engine, REDIRECT_URI)
    password = "hoa-sen-nở-giữa-mùa-hạ"
    context = browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()

    # Enrollment: registry match → one-time code from the SMS outbox → password.
    page.goto(f"{provider.base_url}/enroll")
    assert page.locator("html").get_attribute("lang") == "vi"
    page.fill("input[name=cccd]", citizen.cccd)
    page.fill("input[name=full_name]", citizen.full_name)
    page.fill("input[name=birth_date]", citizen.birth_date.isoformat())
    page.fill("input[name=phone]", "0912345678")
    page.locator("form[action='/enroll'] [type=submit]").click()
    page.wait_for_url("**/enroll/verify**")
    page.fill("input[name=code]", last_sms_code(provider.outbox))
    page.locator("form[action='/enroll/verify'] [type=submit]").click()
    page.wait_for_url("**/enroll/password**")
    page.fill("input[name=password]", password)
    page.fill("input[name=password_confirm]", password)
    page.locator("form[action='/enroll/password'] [type=submit]").click()
    page.wait_for_url("**/enroll/done")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "enroll_done.png"), full_page=True)

    # Login through an authorization request; the client's callback is intercepted.
    callbacks = capture_callbacks(page, "https://hospital.example/**")
    _, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid profile citizen_id", "state": state, "nonce": "n",
              "code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "en"}
    page.goto(f"{provider.base_url}/authorize?{urlencode(params)}")
    page.wait_for_url("**/login?req=**")
    assert page.locator("html").get_attribute("lang") == "en"
    page.fill("input[name=cccd]", citizen.cccd)
    page.fill("input[name=password]", password)
    page.locator("form[action='/login'] [type=submit]").click()
    page.wait_for_url("**/consent?req=**")
    page.screenshot(path=str(ARTIFACTS / "consent.png"), full_page=True)
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url("https://hospital.example/**")
    assert len(callbacks) == 1
    query = parse_qs(urlsplit(callbacks[0]).query)
    assert query["state"] == [state]
    assert query["code"][0]
    context.close()
