"""Client authentication at the token endpoint: private_key_jwt (RFC 7523) and public clients."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.factories import make_client
from tests.harness import ISSUER, REDIRECT_URI, Harness

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _keypair() -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public_jwk.update(kid="k1", alg="RS256", use="sig")
    return private, public_jwk


@pytest.fixture
def jwt_client(harness: Harness) -> tuple[str, rsa.RSAPrivateKey]:
    private, public_jwk = _keypair()
    client_id, _ = make_client(harness.engine, REDIRECT_URI, auth_method="private_key_jwt",
                               jwks={"keys": [public_jwk]})
    return client_id, private


def _assertion(client_id: str, key: Any, alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(12)}
    headers = overrides.pop("headers", {"kid": "k1"})
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _exchange(harness: Harness, client_id: str, assertion: str) -> httpx.Response:
    code, verifier = harness.obtain_code(client_id=client_id)
    return harness.client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


def test_private_key_jwt_client_gets_tokens(harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey]) -> None:
    client_id, key = jwt_client
    response = _exchange(harness, client_id, _assertion(client_id, key))
    assert response.status_code == 200, response.text
    assert response.json()["id_token"]


def test_replayed_client_assertion_is_refused(harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey]) -> None:
    client_id, key = jwt_client
    assertion = _assertion(client_id, key)
    assert _exchange(harness, client_id, assertion).status_code == 200
    replay = _exchange(harness, client_id, assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize("overrides", [
    {"aud": "https://other.example/token"},
    {"exp": int(time.time()) - 120},
    {"exp": int(time.time()) + 3600},          # lives too long
    {"iss": "someone-else"},
])
def test_bad_assertion_claims_are_invalid_client(
    harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey], overrides: dict[str, Any]
) -> None:
    client_id, key = jwt_client
    response = _exchange(harness, client_id, _assertion(client_id, key, **overrides))
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_assertion_signed_by_another_key_is_refused_even_with_a_jku_header(
    harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey]
) -> None:
    client_id, _ = jwt_client
    attacker, _ = _keypair()
    assertion = _assertion(client_id, attacker, headers={"kid": "k1", "jku": "https://evil.example/jwks"})
    assert _exchange(harness, client_id, assertion).json()["error"] == "invalid_client"


def test_alg_none_and_hmac_with_the_public_key_are_refused(
    harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey]
) -> None:
    client_id, key = jwt_client
    unsigned = _assertion(client_id, None, alg="none")
    assert _exchange(harness, client_id, unsigned).json()["error"] == "invalid_client"
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    payload = b64(json.dumps({"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "exp": now + 60,
                              "jti": "x"}).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    confused = f"{header}.{payload}.{signature}"
    assert _exchange(harness, client_id, confused).json()["error"] == "invalid_client"


def test_private_key_jwt_client_cannot_use_a_secret(
    harness: Harness, jwt_client: tuple[str, rsa.RSAPrivateKey]
) -> None:
    client_id, _ = jwt_client
    code, verifier = harness.obtain_code(client_id=client_id)
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                                   auth=(client_id, "anything"))
    assert response.status_code == 401


def test_public_client_uses_pkce_without_a_secret(harness: Harness) -> None:
    client_id, _ = make_client(harness.engine, REDIRECT_URI, auth_method="none")
    code, verifier = harness.obtain_code(client_id=client_id)
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
                                                   "client_id": client_id})
    assert response.status_code == 200, response.text


def test_public_client_without_code_verifier_is_refused(harness: Harness) -> None:
    client_id, _ = make_client(harness.engine, REDIRECT_URI, auth_method="none")
    code, _ = harness.obtain_code(client_id=client_id)
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT_URI, "client_id": client_id})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
