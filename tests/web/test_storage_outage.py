"""Fail closed: with the ephemeral store unreachable the service answers 503 + Retry-After, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.services import build_services
from identity_service.storage.redis_store import RedisStore
from tests.factories import make_client
from tests.harness import ISSUER, REDIRECT_URI, pkce_pair


@pytest.fixture
def broken(tmp_path: Path, sqlite_engine: Engine) -> Iterator[tuple[TestClient, str, str]]:
    settings = Settings(issuer=ISSUER, data_dir=tmp_path, keys_dir=tmp_path / "keys", seed_demo=False)
    store = RedisStore.from_url("redis://127.0.0.1:1/0", "x:")  # nothing listens there
    services = build_services(settings, engine=sqlite_engine, store=store)
    client_id, secret = make_client(sqlite_engine, REDIRECT_URI)
    with TestClient(create_app(settings, services), base_url=ISSUER, raise_server_exceptions=False) as client:
        yield client, client_id, secret


def test_readiness_is_503_when_the_store_is_down(broken: tuple[TestClient, str, str]) -> None:
    client, _, _ = broken
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["store"] == "unavailable"
    assert response.headers["retry-after"]
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_authorization_request_gets_a_503_page(broken: tuple[TestClient, str, str]) -> None:
    client, client_id, _ = broken
    _, challenge = pkce_pair()
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
                       "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    response = client.get(f"/authorize?{query}", follow_redirects=False)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "text/html" in response.headers["content-type"]


def test_token_request_gets_a_503_json_error_and_no_token(broken: tuple[TestClient, str, str]) -> None:
    client, client_id, secret = broken
    response = client.post("/token", data={"grant_type": "authorization_code", "code": "c",
                                           "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 43},
                           auth=(client_id, secret))
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "access_token" not in response.text


def test_enrollment_api_gets_503(broken: tuple[TestClient, str, str]) -> None:
    client, _, _ = broken
    response = client.post("/api/enrollment/some-id/verify", json={"code": "123456"})
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
