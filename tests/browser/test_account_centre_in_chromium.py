"""Chromium: a citizen logs in to a client, withdraws that consent in the account centre, then reads
the access history and finds the service's entries."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser

from identity_service.web.i18n import translator
from tests.factories import make_account, make_citizen, make_client
from tests.harness import PASSWORD, pkce_pair
from tests.live_provider import Provider

pytestmark = pytest.mark.browser

REDIRECT_URI = "https://clinic.example/callback"


def test_citizen_withdraws_a_consent_and_reads_the_access_history(provider: Provider, browser: Browser) -> None:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    client_id, _ = make_client(provider.engine, REDIRECT_URI)
    t = translator("en")
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.route("https://clinic.example/**",
               lambda route: route.fulfill(status=200, body="callback", content_type="text/plain"))
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid profile citizen_id", "state": "s", "nonce": "n", "code_challenge": challenge,
              "code_challenge_method": "S256", "ui_locales": "en"}
    page.goto(f"{provider.base_url}/authorize?{urlencode(params)}")
    page.fill("input[name=cccd]", citizen.cccd)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form[action='/login'] [type=submit]").click()
    page.wait_for_url("**/consent?req=**")
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url("https://clinic.example/**")

    page.goto(f"{provider.base_url}/account/services?lang=en")
    assert page.locator("h2", has_text="Test RP").count() == 1
    page.get_by_role("link", name=t("services.withdraw")).click()
    page.wait_for_url("**/account/services/withdraw?client_id=**")
    page.get_by_role("button", name=t("withdraw.confirm")).click()
    page.wait_for_url("**/account/services?done=consent_withdrawn")
    assert page.get_by_role("status").inner_text() == t("services.done.consent_withdrawn")
    assert page.locator("h2", has_text="Test RP").count() == 0

    page.get_by_role("link", name=t("account.nav.history")).first.click()
    page.wait_for_url("**/account/history")
    entries = page.locator("ol.history > li")
    texts = [entries.nth(i).inner_text() for i in range(entries.count())]
    assert len(texts) == 3 and all("Test RP" in text for text in texts)
    assert t("history.event.consent.withdrawn") in texts[0]  # newest first
    assert t("history.event.authorization.code_issued") in texts[1]
    assert t("claim.citizen_id") in texts[1] and t("claim.name") in texts[1]
    assert t("history.event.consent.granted") in texts[2]
    context.close()
