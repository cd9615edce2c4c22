"""The SDK's login helper against the running provider: PKCE, state, nonce, iss, code exchange,
refresh, introspection, logout URL — with a client secret and with private_key_jwt."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from identity_client.login import LoginError, LoginHelper

from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to
from tests.live_provider import Provider

REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "gió-mùa-đông-bắc"


def _browser(provider: Provider, url: str, cccd: str) -> str:
    browser = httpx.Client(follow_redirects=False)
    response = browser.get(url)
    page = browser.get(provider.base_url + response.headers["location"])
    response = browser.post(provider.base_url + "/login",
                            data={**form_posting_to(page.text, "/login").fields, "cccd": cccd, "password": PASSWORD})
    page = browser.get(provider.base_url + response.headers["location"])
    response = browser.post(provider.base_url + "/consent",
                            data={**form_posting_to(page.text, "/consent").fields, "decision": "allow"})
    return str(response.headers["location"])


@pytest.fixture
def cccd(provider: Provider) -> str:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    return citizen.cccd


def test_login_refresh_introspect_and_logout_url_with_a_secret(provider: Provider, cccd: str) -> None:
    client_id, secret = make_client(provider.engine, REDIRECT_URI, scopes="openid profile citizen_id")
    helper = LoginHelper(provider.base_url, client_id, REDIRECT_URI, client_secret=secret,
                         scope="openid profile citizen_id")
    url, state = helper.authorization_url()
    tokens = helper.handle_callback(_browser(provider, url, cccd), state)
    assert tokens.identity is not None and tokens.identity.citizen_id == cccd and tokens.identity.level == 1
    assert helper.is_active(tokens.access_token) is True
    provider.services.oauth.refresh_tokens.grace = 0  # a second use counts as reuse at once
    refreshed = helper.refresh(tokens.refresh_token or "")
    assert refreshed.refresh_token != tokens.refresh_token
    with pytest.raises(LoginError) as error:
        helper.refresh(tokens.refresh_token or "")  # spent: reuse is refused
    assert error.value.error == "invalid_grant"
    logout = helper.logout_url(tokens.id_token or "", state="bye")
    assert logout.startswith(f"{provider.base_url}/end_session?") and "id_token_hint=" in logout


def test_login_with_private_key_jwt(provider: Provider, cccd: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="rp-1", alg="RS256", use="sig")
    client_id, _ = make_client(provider.engine, REDIRECT_URI, auth_method="private_key_jwt",
                               jwks={"keys": [public]})
    helper = LoginHelper(provider.base_url, client_id, REDIRECT_URI, private_key=key, private_key_id="rp-1")
    url, state = helper.authorization_url()
    tokens = helper.handle_callback(_browser(provider, url, cccd), state)
    assert tokens.identity is not None and tokens.access_token


def test_callback_with_a_foreign_state_or_issuer_is_refused(provider: Provider, cccd: str) -> None:
    client_id, secret = make_client(provider.engine, REDIRECT_URI)
    helper = LoginHelper(provider.base_url, client_id, REDIRECT_URI, client_secret=secret)
    url, state = helper.authorization_url()
    callback = _browser(provider, url, cccd)
    _, other_state = helper.authorization_url()
    with pytest.raises(LoginError, match="state"):
        helper.handle_callback(callback, other_state)
    with pytest.raises(LoginError, match="issuer"):
        helper.handle_callback(callback.replace("iss=", "iss=https%3A%2F%2Fevil.example&x="), state)


def test_error_callbacks_raise_login_error(provider: Provider) -> None:
    client_id, secret = make_client(provider.engine, REDIRECT_URI)
    helper = LoginHelper(provider.base_url, client_id, REDIRECT_URI, client_secret=secret)
    _, state = helper.authorization_url()
    callback = f"{REDIRECT_URI}?error=access_denied&state={state.state}&iss={provider.base_url}"
    with pytest.raises(LoginError) as error:
        helper.handle_callback(callback, state)
    assert error.value.error == "access_denied"
