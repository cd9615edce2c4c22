"""RP-initiated logout and back-channel logout (OIDC RP-Initiated Logout 1.0, Back-Channel Logout 1.0)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import jwt
import pytest

from tests.harness import ISSUER, Harness, published_key
from tests.html_forms import form_posting_to
from tests.receiving_rp import ReceivingRp, receiving_rp

POST_LOGOUT = "https://rp.example/logged-out"


@pytest.fixture
def rp(harness: Harness) -> Iterator[ReceivingRp]:
    with receiving_rp(harness, post_logout_redirect_uris=[POST_LOGOUT]) as receiver:
        yield receiver


def _id_token(harness: Harness) -> dict[str, str]:
    code, verifier = harness.obtain_code()
    body: dict[str, str] = harness.exchange(code, verifier).json()
    return body


def test_logout_with_hint_redirects_to_the_registered_uri_and_notifies_the_client(
    harness: Harness, rp: ReceivingRp
) -> None:
    tokens = _id_token(harness)
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    query = urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "bye"})
    response = harness.client.get(f"/end_session?{query}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{POST_LOGOUT}?state=bye"
    assert rp.received.wait(10)
    jwks = harness.client.get("/jwks.json").json()
    logout = jwt.decode(rp.tokens[0], published_key(jwks, rp.tokens[0]), algorithms=["RS256"],
                        audience=harness.client_id, issuer=ISSUER)
    assert logout["sid"] == id_claims["sid"] and logout["sub"] == id_claims["sub"]
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    assert "nonce" not in logout
    assert jwt.get_unverified_header(rp.tokens[0])["typ"] == "logout+jwt"
    # The session is over: a silent login now fails, and the refresh token died with the session.
    silent = harness.client.get("/authorize?" + urlencode(harness.authorize_params(prompt="none")),
                                follow_redirects=False)
    assert "error=login_required" in silent.headers["location"]
    refresh = harness.client.post("/token", auth=(harness.client_id, harness.client_secret),
                                  data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_unregistered_post_logout_redirect_uri_is_never_followed(harness: Harness, rp: ReceivingRp) -> None:
    tokens = _id_token(harness)
    query = urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    response = harness.client.get(f"/end_session?{query}", follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


def test_logout_without_a_hint_asks_for_confirmation_first(harness: Harness, rp: ReceivingRp) -> None:
    _id_token(harness)
    page = harness.client.get(f"/end_session?{urlencode({'client_id': harness.client_id})}")
    assert page.status_code == 200
    silent = harness.client.get("/authorize?" + urlencode(harness.authorize_params(prompt="none")),
                                follow_redirects=False)
    assert "code=" in silent.headers["location"]  # still logged in until confirmed
    form = form_posting_to(page.text, "/end_session/confirm")
    done = harness.client.post("/end_session/confirm", data=form.fields, follow_redirects=False)
    assert done.status_code == 200
    assert rp.received.wait(10)


def test_failing_client_is_retried(harness: Harness, rp: ReceivingRp) -> None:
    rp.fail_first = 2
    tokens = _id_token(harness)
    response = harness.client.get(f"/end_session?{urlencode({'id_token_hint': tokens['id_token']})}",
                                  follow_redirects=False)
    assert response.status_code == 200
    assert rp.received.wait(10)
    assert len(rp.tokens) == 1


def test_forged_id_token_hint_is_refused(harness: Harness) -> None:
    response = harness.client.get(f"/end_session?{urlencode({'id_token_hint': 'a.b.c'})}")
    assert response.status_code == 400


def test_account_page_logout_also_notifies_clients(harness: Harness, rp: ReceivingRp) -> None:
    _id_token(harness)
    page = harness.client.get("/account")
    form = form_posting_to(page.text, "/logout")
    response = harness.client.post("/logout", data=form.fields, follow_redirects=False)
    assert response.status_code == 200
    assert rp.received.wait(10)
