"""Withdrawing consent: the client's tokens stop working, its sessions are ended, it must ask again."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, select

from identity_service.storage.models import AuditEvent, Consent
from identity_service.web.i18n import translator
from tests.account.browsers import (
    authorize,
    capture_backchannel_logouts,
    csrf_fields,
    refresh_status,
    tokens_in,
    userinfo_status,
)
from tests.factories import make_client
from tests.harness import REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import form_posting_to


def _withdraw(harness: Harness) -> str:
    """Follow the page's own links: the list, the confirmation page, the confirmed POST."""
    listing = harness.client.get("/account/services?lang=en").text
    assert f'/account/services/withdraw?client_id={harness.client_id}' in listing
    confirm = harness.client.get(f"/account/services/withdraw?client_id={harness.client_id}").text
    form = form_posting_to(confirm, "/account/services/withdraw")
    assert form.fields["confirm"] == "yes" and form.fields["client_id"] == harness.client_id
    response = harness.client.post("/account/services/withdraw", data=form.fields, follow_redirects=False)
    assert response.status_code == 303
    return str(response.headers["location"])


def test_connected_services_list_the_client_its_scopes_and_when(harness: Harness) -> None:
    harness.login()
    tokens_in(harness.client, harness, scope="openid profile citizen_id")
    page = harness.client.get("/account/services?lang=en").text
    t = translator("en")
    assert "Test RP" in page
    for scope in ("openid", "profile", "citizen_id"):
        assert t(f"scope.{scope}") in page
    assert t("scope.phone") not in page
    assert t("services.granted") in page


def test_withdrawal_revokes_the_clients_tokens_and_the_next_authorization_asks_again(harness: Harness) -> None:
    captured = capture_backchannel_logouts(harness)
    harness.login()
    tokens = tokens_in(harness.client, harness)
    assert userinfo_status(harness, tokens["access_token"]) == 200

    assert _withdraw(harness) == "/account/services?done=consent_withdrawn"

    assert refresh_status(harness, tokens["refresh_token"]) == (400, "invalid_grant")
    assert userinfo_status(harness, tokens["access_token"]) == 401
    assert [d.client_id for d in captured.deliveries] == [harness.client_id]
    assert "Test RP" not in harness.client.get("/account/services").text
    # The citizen is still logged in, but the client must ask for consent again.
    assert harness.client.get("/account", follow_redirects=False).status_code == 200
    _, challenge = pkce_pair()
    assert authorize(harness.client, harness, challenge, prompt="consent").startswith("/consent?req=")
    assert "error=consent_required" in authorize(harness.client, harness, challenge, prompt="none")
    with Session(harness.engine) as db:
        consent = db.exec(select(Consent).where(Consent.client_id == harness.client_id)).one()
        events = db.exec(select(AuditEvent).where(AuditEvent.event == "consent.withdrawn",
                                                  AuditEvent.client_id == harness.client_id)).all()
    assert consent.withdrawn_at is not None
    assert len(events) == 1 and events[0].account_id == consent.account_id


def test_consenting_again_after_a_withdrawal_works(harness: Harness) -> None:
    harness.login()
    tokens_in(harness.client, harness)
    _withdraw(harness)
    again = tokens_in(harness.client, harness)  # goes through the consent page again
    assert refresh_status(harness, again["refresh_token"])[0] == 200
    assert "Test RP" in harness.client.get("/account/services").text


def test_withdrawal_needs_the_confirmation_and_only_touches_ones_own_consent(harness: Harness) -> None:
    harness.login()
    tokens = tokens_in(harness.client, harness)
    fields = csrf_fields(harness.client, "/account", "/logout")
    unconfirmed = harness.client.post("/account/services/withdraw",
                                      data={**fields, "client_id": harness.client_id}, follow_redirects=False)
    unknown = harness.client.post("/account/services/withdraw",
                                  data={**fields, "client_id": "no-such-client", "confirm": "yes"},
                                  follow_redirects=False)
    assert unconfirmed.headers["location"] == unknown.headers["location"] == "/account/services"
    assert refresh_status(harness, tokens["refresh_token"])[0] == 200
    missing = harness.client.get("/account/services/withdraw?client_id=no-such-client", follow_redirects=False)
    assert missing.status_code == 303 and missing.headers["location"] == "/account/services"


def test_withdrawal_voids_the_access_tokens_of_a_client_that_has_no_refresh_tokens(harness: Harness) -> None:
    """docs/security.md: a client without refresh tokens used to keep its access token until expiry."""
    harness.update_client(grant_types=["authorization_code"])
    harness.services.oauth.clients.invalidate(harness.client_id)
    harness.login()
    tokens = tokens_in(harness.client, harness)
    assert "refresh_token" not in tokens
    assert userinfo_status(harness, tokens["access_token"]) == 200
    assert _introspection(harness, tokens["access_token"])["active"] is True

    _withdraw(harness)

    assert userinfo_status(harness, tokens["access_token"]) == 401
    assert _introspection(harness, tokens["access_token"]) == {"active": False}
    # Only the tokens issued before the withdrawal: consenting again yields a working token at once.
    again = tokens_in(harness.client, harness)
    assert userinfo_status(harness, again["access_token"]) == 200
    assert _introspection(harness, again["access_token"])["active"] is True


def test_withdrawal_leaves_another_clients_access_tokens_alone(harness: Harness) -> None:
    other_id, other_secret = make_client(harness.engine, REDIRECT_URI, grant_types=("authorization_code",))
    harness.login()
    other_tokens = tokens_in(harness.client, replace(harness, client_id=other_id, client_secret=other_secret))
    tokens_in(harness.client, harness)

    _withdraw(harness)

    assert userinfo_status(harness, other_tokens["access_token"]) == 200


def _introspection(harness: Harness, token: str) -> dict[str, object]:
    response = harness.client.post("/introspect", data={"token": token},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body
