"""Admin API for clients: authenticated by an admin-scoped client_credentials token; RFC 9457 errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_client
from tests.harness import REDIRECT_URI, Harness


@pytest.fixture
def admin(harness: Harness) -> dict[str, str]:
    admin_id, admin_secret = make_client(harness.engine, REDIRECT_URI, scopes="admin",
                                         grant_types=("client_credentials",))
    token = harness.client.post("/token", data={"grant_type": "client_credentials", "scope": "admin"},
                                auth=(admin_id, admin_secret)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _spec(**overrides: Any) -> dict[str, Any]:
    spec = {"name": "Bệnh viện Bạch Mai", "redirect_uris": ["https://bachmai.example/callback"],
            "scopes": ["openid", "profile", "citizen_id"]}
    spec.update(overrides)
    return spec


def test_register_then_use_the_new_client(harness: Harness, admin: dict[str, str]) -> None:
    created = harness.client.post("/admin/clients", json=_spec(), headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["client_secret"] and body["client_id"]
    assert body["sector_identifier"] == "bachmai.example"
    assert created.headers["location"] == f"/admin/clients/{body['client_id']}"
    shown = harness.client.get(f"/admin/clients/{body['client_id']}", headers=admin).json()
    assert "client_secret" not in shown and "client_secret_hash" not in shown
    token = harness.client.post("/introspect", data={"token": "x"}, auth=(body["client_id"], body["client_secret"]))
    assert token.status_code == 200  # the secret works for client authentication


@pytest.mark.parametrize(("uri", "reason"), [
    ("http://bachmai.example/cb", "https"),
    ("https://bachmai.example/cb#frag", "fragment"),
    ("https://*.bachmai.example/cb", "wildcard"),
    ("/relative/cb", "absolute"),
    ("https://user:pw@bachmai.example/cb", "credentials"),
])
def test_redirect_uris_are_validated(harness: Harness, admin: dict[str, str], uri: str, reason: str) -> None:
    response = harness.client.post("/admin/clients", json=_spec(redirect_uris=[uri]), headers=admin)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.text


def test_loopback_http_is_allowed_for_development(harness: Harness, admin: dict[str, str]) -> None:
    response = harness.client.post("/admin/clients", json=_spec(redirect_uris=["http://localhost:8001/cb"]),
                                   headers=admin)
    assert response.status_code == 201


@pytest.mark.parametrize("overrides", [
    {"token_endpoint_auth_method": "private_key_jwt"},        # needs jwks
    {"scopes": ["openid", "everything"]},
    {"grant_types": ["password"]},
    {"unknown_field": 1},
    {"name": ""},
    {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
    {"jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "secret"}]}},
])
def test_inconsistent_registrations_are_refused(
    harness: Harness, admin: dict[str, str], overrides: dict[str, Any]
) -> None:
    response = harness.client.post("/admin/clients", json=_spec(**overrides), headers=admin)
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_duplicate_client_id_is_409(harness: Harness, admin: dict[str, str]) -> None:
    assert harness.client.post("/admin/clients", json=_spec(client_id="dup-client"), headers=admin).status_code == 201
    again = harness.client.post("/admin/clients", json=_spec(client_id="dup-client"), headers=admin)
    assert again.status_code == 409 and again.json()["title"] == "Conflict"
    harness.client.delete("/admin/clients/dup-client", headers=admin)


def test_update_secret_rotation_and_removal(harness: Harness, admin: dict[str, str]) -> None:
    body = harness.client.post("/admin/clients", json=_spec(), headers=admin).json()
    client_id, old_secret = body["client_id"], body["client_secret"]
    patched = harness.client.patch(f"/admin/clients/{client_id}", json={"min_level": 2, "require_par": True},
                                   headers=admin)
    assert patched.status_code == 200 and patched.json()["min_level"] == 2 and patched.json()["require_par"]
    bad = harness.client.patch(f"/admin/clients/{client_id}", json={"redirect_uris": ["http://evil.example/cb"]},
                               headers=admin)
    assert bad.status_code == 400
    # Used once before the rotation, so the registration sits in the client cache: the rotation must evict it.
    assert harness.client.post("/introspect", data={"token": "x"}, auth=(client_id, old_secret)).status_code == 200
    new_secret = harness.client.post(f"/admin/clients/{client_id}/secret", headers=admin).json()["client_secret"]
    assert harness.client.post("/introspect", data={"token": "x"}, auth=(client_id, old_secret)).status_code == 401
    assert harness.client.post("/introspect", data={"token": "x"}, auth=(client_id, new_secret)).status_code == 200
    assert harness.client.delete(f"/admin/clients/{client_id}", headers=admin).status_code == 204
    assert harness.client.get(f"/admin/clients/{client_id}", headers=admin).status_code == 404


def test_removing_a_client_ends_its_refresh_tokens(harness: Harness, admin: dict[str, str]) -> None:
    code, verifier = harness.obtain_code()
    tokens = harness.exchange(code, verifier).json()
    assert harness.client.delete(f"/admin/clients/{harness.client_id}", headers=admin).status_code == 204
    response = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 401  # the client itself is gone


def test_admin_api_requires_an_admin_token(harness: Harness) -> None:
    missing = harness.client.get("/admin/clients")
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    assert "Bearer" in missing.headers["www-authenticate"]
    assert harness.client.get("/admin/clients", headers={"Authorization": "Bearer junk"}).status_code == 401
    code, verifier = harness.obtain_code()
    citizen_token = harness.exchange(code, verifier).json()["access_token"]
    forbidden = harness.client.get("/admin/clients", headers={"Authorization": f"Bearer {citizen_token}"})
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]


def test_malformed_bodies_are_problem_details(harness: Harness, admin: dict[str, str]) -> None:
    headers = {**admin, "content-type": "application/json"}
    response = harness.client.post("/admin/clients", content=b"{not json", headers=headers)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    listed = harness.client.post("/admin/clients", json=[1, 2], headers=admin)
    assert listed.status_code == 400
