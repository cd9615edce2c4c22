"""People, registered example clients, and the provider's own login pages as a browser sees them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date

import pyotp
from playwright.sync_api import Page, Request

from clients.examples.config import RelyingPartyConfig
from identity_service.identity.second_factors import TOTP_DIGITS, TOTP_STEP_SECONDS
from identity_service.storage.database import session_scope
from identity_service.storage.models import Client
from tests.factories import make_account, make_citizen, make_client
from tests.live_provider import Provider
from tests.live_server import free_port

PASSWORD = "mưa-rào-tháng-sáu-hà-nội"


@dataclass(frozen=True)
class Person:
    cccd: str
    password: str
    full_name: str
    birth_date: date
    account_id: str


def make_person(provider: Provider, full_name: str, birth_date: date, sex: str, level: int = 1) -> Person:
    family, *_, given = full_name.split()
    citizen = make_citizen(provider.engine, full_name=full_name, family_name=family, given_name=given,
                           birth_date=birth_date, sex=sex)
    account = make_account(provider.engine, citizen, PASSWORD, level=level)
    return Person(citizen.cccd, PASSWORD, full_name, birth_date, account.id)


def register_example_client(provider: Provider, backchannel: bool = False) -> RelyingPartyConfig:
    """A client for an example app on a free port (browser-facing host ``localhost``: its own cookies)."""
    port = free_port()
    base_url = f"http://localhost:{port}"
    client_id, secret = make_client(provider.engine, f"{base_url}/callback", scopes="openid profile citizen_id")
    with session_scope(provider.engine) as session:
        row = session.get(Client, client_id)
        assert row is not None
        row.post_logout_redirect_uris = [f"{base_url}/", f"{base_url}/logged-out"]
        # The provider posts from its own process: the loopback address avoids any IPv6-first resolution.
        row.backchannel_logout_uri = f"http://127.0.0.1:{port}/backchannel-logout" if backchannel else None
        session.add(row)
    return RelyingPartyConfig(issuer=provider.base_url, client_id=client_id, client_secret=secret, base_url=base_url)


def enrol_totp(provider: Provider, person: Person) -> pyotp.TOTP:
    """An authenticator app for ``person``, enrolled through the provider's second-factor service.

    The enrolment is confirmed with the previous step's code, so the current step stays unused for
    the login that follows (each step is accepted once, RFC 6238 §5.2).
    """
    enrolment = provider.services.second_factors.begin_totp(person.account_id, person.cccd, "test phone")
    app = pyotp.TOTP(enrolment.secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    provider.services.second_factors.confirm_totp(person.account_id, enrolment.factor_id,
                                                  app.at(time.time() - TOTP_STEP_SECONDS))
    return app


def log_in_at_provider(page: Page, provider: Provider, person: Person, rp_base_url: str,
                       authenticator: pyotp.TOTP | None = None) -> None:
    """On the provider's login page: CCCD + password, then the later steps, until back at the RP."""
    page.wait_for_url(re.compile(re.escape(provider.base_url) + r"/login\?req="))
    page.fill("input[name=cccd]", person.cccd)
    page.fill("input[name=password]", person.password)
    page.locator("form[action='/login'] [type=submit]").click()
    finish_at_provider(page, provider, rp_base_url, authenticator)


def finish_at_provider(page: Page, provider: Provider, rp_base_url: str,
                       authenticator: pyotp.TOTP | None = None) -> list[str]:
    """Answer the provider's pages after the password until the browser is back at the RP.

    The second factor is the authenticator's current code; the level-required page (a level-1
    account asked for level 2) is left with its return button; consent is given. Returns the
    provider pages seen, in order.
    """
    seen: list[str] = []
    for _ in range(5):
        page.wait_for_url(lambda url: url.startswith(rp_base_url) or (any(
            url.startswith(f"{provider.base_url}{path}") for path in _PROVIDER_STEPS) and url not in seen))
        if page.url.startswith(rp_base_url):
            return seen
        seen.append(page.url)
        if "/login/second-factor" in page.url:
            assert authenticator is not None, "the provider asked for a second factor"
            page.fill("#totp-code", authenticator.now())
            page.click("#totp-submit")
        elif "/login/level-required" in page.url:
            page.click("#return-to-service")
        else:
            page.locator("button[name=decision][value=allow]").click()
    raise AssertionError(f"never returned to the relying party; provider pages: {seen}")


_PROVIDER_STEPS = ("/consent?", "/login/second-factor?", "/login/level-required?")


def record_authorization_requests(page: Page, provider: Provider) -> list[str]:
    """The authorization requests the page sends to the provider from now on, in order."""
    requests: list[str] = []

    def _record(request: Request) -> None:
        if request.url.startswith(f"{provider.base_url}/authorize?"):
            requests.append(request.url)

    page.on("request", _record)
    return requests
