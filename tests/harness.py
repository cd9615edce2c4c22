"""The provider in-process (Starlette TestClient) on both storage stacks."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.services import Services, build_services
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore, make_store
from identity_service.storage.models import Client
from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to

ISSUER = "http://localhost:8000"
REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "một-con-vịt-xòe-ra-hai-cái-cánh"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Harness:
    client: TestClient
    services: Services
    engine: Engine
    client_id: str
    client_secret: str
    cccd: str

    def authorize_params(self, **overrides: str) -> dict[str, str]:
        _, challenge = pkce_pair()
        params = {
            "response_type": "code", "client_id": overrides.pop("client_id", self.client_id),
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile", "state": "st-1", "nonce": "n-1",
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def update_client(self, **fields: object) -> None:
        """Change the test client's registration in the database (the process's client cache is left
        alone: a test that needs the change seen at once invalidates it, as the admin API does)."""
        with session_scope(self.engine) as db:
            client = db.get(Client, self.client_id)
            assert client is not None
            for name, value in fields.items():
                setattr(client, name, value)
            db.add(client)

    def login(self) -> None:
        page = self.client.get("/login")
        form = form_posting_to(page.text, "/login")
        form.fields.update(cccd=self.cccd, password=PASSWORD)
        response = self.client.post("/login", data=form.fields, follow_redirects=False)
        assert response.status_code == 303, response.text

    def obtain_code(self, verifier_challenge: tuple[str, str] | None = None, client_id: str | None = None,
                    **params: str) -> tuple[str, str]:
        """Log in, consent and return ``(code, code_verifier)``."""
        verifier, challenge = verifier_challenge or pkce_pair()
        self.login()
        url = "/authorize?" + urlencode(self.authorize_params(code_challenge=challenge,
                                                              client_id=client_id or self.client_id, **params))
        response = self.client.get(url, follow_redirects=False)
        location = response.headers["location"]
        if location.startswith("/consent"):
            page = self.client.get(location)
            form = form_posting_to(page.text, "/consent")
            response = self.client.post("/consent", data={**form.fields, "decision": "allow"},
                                        follow_redirects=False)
            location = response.headers["location"]
        assert location.startswith(REDIRECT_URI), location
        from urllib.parse import parse_qs, urlsplit

        return parse_qs(urlsplit(location).query)["code"][0], verifier

    def exchange(self, code: str, verifier: str, secret: str | None = None) -> object:
        return self.client.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }, auth=(self.client_id, secret or self.client_secret))


def provider_settings(tmp_path: Path) -> Settings:
    """Settings for an in-process provider: its own folders, no demo data, fast password hashing."""
    return Settings(issuer=ISSUER, data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", seed_demo=False,
                    argon2_memory_kib=1024, argon2_time_cost=1)


def storage_stack(request: pytest.FixtureRequest, sqlite_engine: Engine) -> tuple[Engine, EphemeralStore]:
    """The database and ephemeral store a fixture parametrized ``embedded`` / ``postgresql+redis`` runs on."""
    if request.param == "embedded":
        return sqlite_engine, make_store(None, "")
    return (request.getfixturevalue("pg_engine"),
            make_store(request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")))


@pytest.fixture(params=["embedded", "postgresql+redis"])
def harness(request: pytest.FixtureRequest, tmp_path: Path, sqlite_engine: Engine) -> Iterator[Harness]:
    settings = provider_settings(tmp_path)
    engine, store = storage_stack(request, sqlite_engine)
    services = build_services(settings, engine=engine, store=store)
    citizen = make_citizen(engine)
    make_account(engine, citizen, PASSWORD)
    client_id, secret = make_client(engine, REDIRECT_URI)
    with TestClient(create_app(settings, services), base_url=ISSUER) as client:
        yield Harness(client, services, engine, client_id, secret, citizen.cccd)


def published_key(jwks: dict[str, Any], token: str) -> Any:
    """The JWKS key a token names by ``kid`` (as a verifier would pick it)."""
    import jwt

    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    return jwt.PyJWK(jwk).key
