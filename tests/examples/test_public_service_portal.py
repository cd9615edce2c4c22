"""The public service portal example in a real Chromium against a live provider: browsing at level 1,
step-up for a dossier, RP-initiated logout, and back-channel logout ending the portal session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import Page

from clients.examples.config import RelyingPartyConfig
from clients.examples.portal.app import create_app
from clients.examples.portal.backchannel import BACKCHANNEL_EVENT, LogoutRequest
from tests.examples.actors import (
    Person,
    enrol_totp,
    finish_at_provider,
    log_in_at_provider,
    make_person,
    record_authorization_requests,
    register_example_client,
)
from tests.live_provider import Provider
from tests.live_server import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("provider", ["embedded"], indirect=True)]


@dataclass
class PortalUnderTest:
    config: RelyingPartyConfig
    citizen: Person
    level2_citizen: Person
    logouts: list[tuple[LogoutRequest, int]] = field(default_factory=list)
    logged_out: threading.Event = field(default_factory=threading.Event)

    def observe(self, request: LogoutRequest, ended: int) -> None:
        self.logouts.append((request, ended))
        self.logged_out.set()


@pytest.fixture
def portal(provider: Provider) -> Iterator[PortalUnderTest]:
    citizen = make_person(provider, "Vũ Quang Huy", date(1991, 7, 21), "male")
    level2_citizen = make_person(provider, "Trịnh Thu Trang", date(1987, 12, 5), "female", level=2)
    under_test = PortalUnderTest(register_example_client(provider, backchannel=True), citizen, level2_citizen)
    app = create_app(under_test.config, on_backchannel_logout=under_test.observe)
    with serve_in_thread(app, under_test.config.port):
        yield under_test


def _log_in(page: Page, provider: Provider, portal: PortalUnderTest, person: Person | None = None) -> None:
    page.goto(f"{portal.config.base_url}/")
    assert page.is_visible("#login-needed")
    page.click("#login")
    log_in_at_provider(page, provider, person or portal.citizen, portal.config.base_url)
    page.wait_for_url(f"{portal.config.base_url}/")


def test_citizen_browses_services_at_level_1(page: Page, provider: Provider, portal: PortalUnderTest) -> None:
    _log_in(page, provider, portal)
    assert page.text_content("#user") == "Vũ Quang Huy (level 1)"
    page.click("text=Đăng ký khai sinh (Birth registration)")
    assert page.text_content("#service-title") == "Đăng ký khai sinh (Birth registration)"
    assert page.is_visible("#step-up-note")


def test_submitting_a_dossier_steps_up_to_level_2_with_the_second_factor_only(
        page: Page, provider: Provider, portal: PortalUnderTest) -> None:
    authenticator = enrol_totp(provider, portal.level2_citizen)
    _log_in(page, provider, portal, portal.level2_citizen)
    assert page.text_content("#user") == "Trịnh Thu Trang (level 1)"  # no acr_values: a level-1 login
    authorization_requests = record_authorization_requests(page, provider)
    page.goto(f"{portal.config.base_url}/services/birth-registration")
    page.fill("#details", "Khai sinh cho con gái, sinh ngày 01/11/2026.")
    page.click("#submit-dossier")
    provider_pages = finish_at_provider(page, provider, portal.config.base_url, authenticator)
    assert [urlsplit(url).path for url in provider_pages] == ["/login/second-factor"]  # no password again
    query = parse_qs(urlsplit(authorization_requests[0]).query)
    assert query["acr_values"] == ["urn:eid:vn:level2"] and "prompt" not in query
    page.wait_for_url(f"{portal.config.base_url}/dossiers/**")
    assert page.text_content("#dossier-level") == "2"
    assert page.text_content("#dossier-citizen-id") == portal.level2_citizen.cccd
    assert page.text_content("#dossier-details") == "Khai sinh cho con gái, sinh ngày 01/11/2026."
    assert page.text_content("#user") == "Trịnh Thu Trang (level 2)"


def test_a_level_1_account_asked_to_step_up_is_told_why_and_nothing_is_submitted(
        page: Page, provider: Provider, portal: PortalUnderTest) -> None:
    _log_in(page, provider, portal)
    authorization_requests = record_authorization_requests(page, provider)
    page.goto(f"{portal.config.base_url}/services/residence-confirmation")
    page.fill("#details", "Xác nhận nơi cư trú để nộp hồ sơ vay vốn.")
    page.click("#submit-dossier")
    provider_pages = finish_at_provider(page, provider, portal.config.base_url)
    assert [urlsplit(url).path for url in provider_pages] == ["/login/level-required"]
    assert len(authorization_requests) == 1, "submitting must start exactly one new authorization request"
    query = parse_qs(urlsplit(authorization_requests[0]).query)
    assert query["acr_values"] == ["urn:eid:vn:level2"]
    assert "prompt" not in query and query["client_id"] == [portal.config.client_id]
    assert parse_qs(urlsplit(page.url).query)["error"] == ["unmet_authentication_requirements"]
    assert page.text_content("#title") == "Level 2 identity required"
    assert "Your dossier was not submitted." in page.inner_text("body")
    page.goto(f"{portal.config.base_url}/")  # still logged in at level 1: browsing goes on
    assert page.text_content("#user") == "Vũ Quang Huy (level 1)"


def test_rp_initiated_logout_ends_the_portal_and_provider_sessions(
        page: Page, provider: Provider, portal: PortalUnderTest) -> None:
    _log_in(page, provider, portal)
    end_session_requests: list[str] = []
    page.on("request", lambda r: end_session_requests.append(r.url)
            if r.url.startswith(f"{provider.base_url}/end_session") else None)
    page.click("#logout")
    page.wait_for_url(f"{portal.config.base_url}/logged-out")
    query = parse_qs(urlsplit(end_session_requests[0]).query)
    assert query["post_logout_redirect_uri"] == [f"{portal.config.base_url}/logged-out"]
    assert query["id_token_hint"][0].count(".") == 2
    assert page.text_content("#title") == "You have logged out"
    page.goto(f"{portal.config.base_url}/")
    assert page.is_visible("#login-needed")
    page.goto(f"{provider.base_url}/account")  # the provider session is gone too
    assert "/login" in page.url


def test_backchannel_logout_ends_the_portal_session(page: Page, provider: Provider, portal: PortalUnderTest) -> None:
    _log_in(page, provider, portal)
    # The citizen logs out at the provider (its account page), not at the portal.
    page.goto(f"{provider.base_url}/account")
    page.locator("form[action='/logout'] [type=submit]").click()
    assert portal.logged_out.wait(timeout=15), "the provider never delivered the back-channel logout"
    (request, ended), = portal.logouts
    assert request.sid is not None and ended == 1
    page.goto(f"{portal.config.base_url}/")
    assert page.is_visible("#login-needed")


def _logout_token(provider: Provider, portal: PortalUnderTest, **changes: Any) -> str:
    key = provider.services.keys.active_for("RS256")
    now = int(time.time())
    claims = {"iss": provider.base_url, "aud": portal.config.client_id, "iat": now, "exp": now + 120,
              "jti": f"jti-{time.monotonic_ns()}", "sub": "someone", "sid": "sid-1", "events": {BACKCHANNEL_EVENT: {}}}
    headers = {"kid": key.kid, "typ": changes.pop("typ", "logout+jwt")}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key.private_key, algorithm="RS256",
                      headers=headers)


def test_backchannel_endpoint_refuses_bad_and_replayed_logout_tokens(provider: Provider,
                                                                    portal: PortalUnderTest) -> None:
    url = f"{portal.config.base_url.replace('localhost', '127.0.0.1')}/backchannel-logout"

    def post(token: str) -> int:
        return httpx.post(url, data={"logout_token": token}).status_code

    good = _logout_token(provider, portal)
    assert post(good) == 200
    assert post(good) == 400, "a jti is accepted once"
    assert post(_logout_token(provider, portal, typ="JWT")) == 400
    assert post(_logout_token(provider, portal, nonce="n")) == 400
    assert post(_logout_token(provider, portal, events={"other": {}})) == 400
    assert post(_logout_token(provider, portal, aud="another-client")) == 400
    assert post(_logout_token(provider, portal, iss="https://evil.example")) == 400
    assert post(_logout_token(provider, portal, sub=None, sid=None)) == 400
    assert post(_logout_token(provider, portal, exp=int(time.time()) - 300)) == 400
    assert post("not-a-jwt") == 400
    assert [ended for _, ended in portal.logouts] == [0]
