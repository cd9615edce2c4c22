"""A full login driven by authlib's OAuth 2.0 client (a client nobody here wrote).

authorization request (PKCE S256, state, nonce) → login → consent → code → tokens →
ID token verified against the published JWKS → userinfo.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to
from tests.live_provider import Provider

REDIRECT_URI = "https://rp.example/callback"


def _browser_login(provider: Provider, authorization_url: str, cccd: str, password: str) -> str:
    """Act as the citizen's browser: follow redirects, fill the login and consent forms.

    Returns the URL the provider finally redirects to (the client's callback).
    """
    browser = httpx.Client(base_url=provider.base_url, follow_redirects=False)
    response = browser.get(authorization_url)
    assert response.status_code == 303, response.text
    login_url = response.headers["location"]
    page = browser.get(login_url)
    assert page.status_code == 200
    form = form_posting_to(page.text, "/login")
    form.fields.update(cccd=cccd, password=password)
    response = browser.post("/login", data=form.fields)
    assert response.status_code == 303, response.text
    consent_url = response.headers["location"]
    assert consent_url.startswith("/consent")
    page = browser.get(consent_url)
    form = form_posting_to(page.text, "/consent")
    response = browser.post("/consent", data={**form.fields, "decision": "allow"})
    assert response.status_code == 303
    location = response.headers["location"]
    browser.close()
    return urljoin(provider.base_url, location)


def test_full_login_with_authlib_client_verifies_id_token_against_jwks(provider: Provider) -> None:
    citizen = make_citizen(provider.engine)
    password = "ngựa-xanh-pin-kẹp-giấy"
    make_account(provider.engine, citizen, password)
    client_id, client_secret = make_client(provider.engine, REDIRECT_URI)
    metadata = httpx.get(f"{provider.base_url}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == provider.base_url

    client = OAuth2Client(client_id, client_secret, scope="openid profile citizen_id",
                          redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                          token_endpoint_auth_method="client_secret_basic")
    code_verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=code_verifier,
                                                 nonce=nonce)
    callback = _browser_login(provider, url, citizen.cccd, password)
    assert callback.startswith(REDIRECT_URI)
    params = parse_qs(urlsplit(callback).query)
    assert params["state"] == [state]
    assert params["iss"] == [provider.base_url]  # RFC 9207

    token = client.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                               code_verifier=code_verifier)
    assert token["token_type"].lower() == "bearer"

    jwks = JsonWebKey.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                        claims_options={"iss": {"value": provider.base_url}, "aud": {"value": client_id}},
                        claims_params={"nonce": nonce, "client_id": client_id})
    claims.validate()
    assert claims["nonce"] == nonce
    assert claims["acr"] == provider.settings.acr_level1
    assert claims["amr"] == ["pwd"]
    assert claims["identity_level"] == 1
    assert claims["citizen_id"] == citizen.cccd
    assert claims["sub"] != citizen.cccd  # pairwise, never the number itself

    client.token = token
    userinfo = client.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["name"] == citizen.full_name
    assert userinfo["birthdate"] == citizen.birth_date.isoformat()
    assert userinfo["citizen_id"] == citizen.cccd
    assert "phone_number" not in userinfo  # the phone scope was not requested
