"""The Python SDK against the running provider: real tokens, key rotation, provider downtime."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import Depends, FastAPI
from identity_client import AsyncTokenVerifier, Identity, InsufficientLevel, InvalidToken, TokenVerifier
from identity_client.cli import main as cli_main
from identity_client.fastapi import require_identity
from starlette.testclient import TestClient

from identity_service.security.keys import rotate
from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to
from tests.live_provider import Provider

REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "đồng-lúa-chín-vàng"


def _tokens(provider: Provider) -> tuple[dict[str, str], str]:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    client_id, secret = make_client(provider.engine, REDIRECT_URI, scopes="openid profile citizen_id")
    browser = httpx.Client(base_url=provider.base_url, follow_redirects=False)
    page = browser.get("/login")
    browser.post("/login", data={**form_posting_to(page.text, "/login").fields, "cccd": citizen.cccd,
                                 "password": PASSWORD})
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
             "scope": "openid profile citizen_id", "nonce": "n-1",
             "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
    consent = browser.get(browser.get("/authorize", params=query).headers["location"])
    response = browser.post("/consent", data={**form_posting_to(consent.text, "/consent").fields, "decision": "allow"})
    code = httpx.URL(response.headers["location"]).params["code"]
    tokens = httpx.post(f"{provider.base_url}/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}).json()
    assert "id_token" in tokens, tokens
    return tokens, client_id


def test_sdk_verifies_real_id_and_access_tokens(provider: Provider) -> None:
    tokens, client_id = _tokens(provider)
    verifier = TokenVerifier(provider.base_url, audience=client_id)
    identity = verifier.verify_id_token(tokens["id_token"], nonce="n-1")
    assert identity.level == 1 and identity.citizen_id and identity.amr == ("pwd",)
    access = verifier.verify_access_token(tokens["access_token"])
    assert access.subject == identity.subject
    with pytest.raises(InsufficientLevel):
        verifier.verify_access_token(tokens["access_token"], level=2)
    with pytest.raises(InvalidToken):
        verifier.verify_access_token(tokens["id_token"])  # an ID token is not an access token


def test_rotation_of_the_providers_keys_does_not_break_verification(provider: Provider) -> None:
    tokens, client_id = _tokens(provider)
    verifier = TokenVerifier(provider.base_url, audience=client_id, min_refresh_interval=0)
    verifier.verify_id_token(tokens["id_token"])
    rotate(provider.settings.keys_dir, "RS256", publish_ahead=0, keep_after=3600)
    provider.services.keys.reload(force=True)
    new_tokens, new_client = _tokens(provider)
    fresh = TokenVerifier(provider.base_url, audience=new_client)
    assert fresh.verify_id_token(new_tokens["id_token"]).level == 1
    assert verifier.verify_id_token(tokens["id_token"]).level == 1  # the old key is still published


def test_warm_cache_survives_the_provider_being_down(provider: Provider) -> None:
    tokens, client_id = _tokens(provider)
    verifier = TokenVerifier(provider.base_url, audience=client_id, min_refresh_interval=0)
    verifier.verify_id_token(tokens["id_token"])
    verifier.verified = type(verifier.verified)(0)  # no result cache: force a real verification
    verifier.keys.expires_at = 0  # the key cache is stale…
    verifier._http = httpx.Client(base_url="http://127.0.0.1:1", timeout=1)  # …and the provider unreachable
    assert verifier.verify_access_token(tokens["access_token"]).level == 1


def test_cli_prints_claims_or_the_reason(provider: Provider, capsys: pytest.CaptureFixture[str]) -> None:
    tokens, client_id = _tokens(provider)
    assert cli_main(["verify", tokens["access_token"], "--issuer", provider.base_url, "--audience", client_id]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["level"] == 1 and printed["claims"]["client_id"] == client_id
    assert cli_main(["verify", tokens["access_token"], "--issuer", provider.base_url, "--level", "2"]) == 1
    assert "InsufficientLevel" in capsys.readouterr().err


def test_fastapi_dependency_guards_routes(provider: Provider) -> None:
    tokens, client_id = _tokens(provider)
    verifier = AsyncTokenVerifier(provider.base_url, audience=client_id)
    app = FastAPI()

    @app.get("/records")
    async def records(identity: Identity = Depends(require_identity(verifier))) -> dict[str, str | None]:
        return {"subject": identity.subject}

    @app.get("/insurance")
    async def insurance(identity: Identity = Depends(require_identity(verifier, level=2))) -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert client.get("/records", headers=bearer).json()["subject"]
        assert client.get("/records").status_code == 401
        assert client.get("/records", headers={"Authorization": "Bearer junk"}).status_code == 401
        step_up = client.get("/insurance", headers=bearer)
        assert step_up.status_code == 403
        assert 'acr_values="urn:eid:vn:level2"' in step_up.headers["www-authenticate"]
