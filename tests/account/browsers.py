"""More than one browser against the same provider, and what each of them holds (cookies, tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.testclient import TestClient

from identity_service.oidc.logout import LogoutDelivery
from tests.harness import ISSUER, PASSWORD, REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import form_posting_to

ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"


def new_browser(harness: Harness, user_agent: str = WINDOWS_FIREFOX) -> TestClient:
    """Another browser (its own cookie jar) on the same app; no lifespan, so closing it closes nothing."""
    return TestClient(harness.client.app, base_url=ISSUER, headers={"User-Agent": user_agent})


def log_in(browser: TestClient, cccd: str, password: str = PASSWORD) -> None:
    form = form_posting_to(browser.get("/login").text, "/login")
    response = browser.post("/login", data={**form.fields, "cccd": cccd, "password": password},
                            follow_redirects=False)
    assert response.status_code == 303, response.text


def authorize(browser: TestClient, harness: Harness, challenge: str, **extra: str) -> str:
    """Run an authorization request in ``browser``; the Location it ends at (consented automatically)."""
    params = {**harness.authorize_params(code_challenge=challenge), **extra}
    response = browser.get("/authorize?" + urlencode(params), follow_redirects=False)
    location = response.headers["location"]
    if location.startswith("/consent") and "prompt" not in extra:
        form = form_posting_to(browser.get(location).text, "/consent")
        response = browser.post("/consent", data={**form.fields, "decision": "allow"}, follow_redirects=False)
        location = response.headers["location"]
    return str(location)


def tokens_in(browser: TestClient, harness: Harness, scope: str = "openid profile citizen_id") -> dict[str, Any]:
    """Consent (if asked) and exchange a code obtained in ``browser``'s session: the token response."""
    verifier, challenge = pkce_pair()
    location = authorize(browser, harness, challenge, scope=scope)
    assert location.startswith(REDIRECT_URI), location
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                            auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh_status(harness: Harness, refresh_token: str) -> tuple[int, str | None]:
    response = harness.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                                   auth=(harness.client_id, harness.client_secret))
    return response.status_code, response.json().get("error")


def userinfo_status(harness: Harness, access_token: str) -> int:
    return harness.client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def csrf_fields(browser: TestClient, page: str, action: str) -> dict[str, str]:
    return dict(form_posting_to(browser.get(page).text, action).fields)


@dataclass
class CapturedLogouts:
    """Back-channel logout deliveries handed to the background sender (not sent anywhere)."""

    deliveries: list[LogoutDelivery] = field(default_factory=list)

    async def deliver(self, deliveries: list[LogoutDelivery]) -> dict[str, bool]:
        self.deliveries += deliveries
        return {d.client_id: True for d in deliveries}


def capture_backchannel_logouts(harness: Harness) -> CapturedLogouts:
    """Register a back-channel logout URI for the test client and keep what would be sent to it."""
    harness.update_client(backchannel_logout_uri="https://rp.example/backchannel")
    captured = CapturedLogouts()
    harness.services.backchannel.deliver = captured.deliver  # type: ignore[method-assign]
    return captured
