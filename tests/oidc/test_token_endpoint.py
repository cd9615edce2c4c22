"""Token endpoint rules (RFC 6749 §4.1.3 and §5.2, RFC 7636 §4.6)."""

from __future__ import annotations

import base64
import hashlib

import jwt
import pytest
from sqlmodel import Session, col, select

from identity_service.oidc.authorization_codes import used_code_record
from identity_service.storage.ephemeral import Put
from identity_service.storage.models import RefreshToken
from tests.factories import make_client
from tests.harness import ISSUER, REDIRECT_URI, Harness, pkce_pair, published_key


def test_code_exchange_returns_signed_id_and_access_tokens(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    response = harness.exchange(code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    jwks = harness.client.get("/jwks.json").json()
    key = published_key(jwks, body["id_token"])
    id_token = jwt.decode(body["id_token"], key, algorithms=["RS256"], audience=harness.client_id,
                          issuer=ISSUER)
    assert id_token["nonce"] == "n-1"
    assert id_token["at_hash"]
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"  # the default for clients
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


def test_reused_code_is_refused_and_revokes_the_access_token_issued_from_it(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    first = harness.exchange(code, verifier)
    assert first.status_code == 200
    access_token = first.json()["access_token"]
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code == 200
    second = harness.exchange(code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    after = harness.client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert after.status_code == 401


def test_wrong_client_secret_is_invalid_client(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    response = harness.exchange(code, verifier, secret="wrong-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_code_verifier_is_invalid_grant(harness: Harness) -> None:
    code, _ = harness.obtain_code()
    other_verifier, _ = pkce_pair()
    response = harness.exchange(code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_invalid_request(harness: Harness) -> None:
    code, _ = harness.obtain_code()
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT_URI},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_redirect_uri_must_match_the_authorization_request(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": "https://rp.example/other",
                                                   "code_verifier": verifier},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_grant_type_is_unsupported_grant_type(harness: Harness) -> None:
    response = harness.client.post("/token", data={"grant_type": "password", "username": "x", "password": "y"},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_garbage_code_is_invalid_grant(harness: Harness) -> None:
    _, verifier = pkce_pair()
    response = harness.exchange("not-a-code" * 50, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_json_body_is_refused_with_invalid_request(harness: Harness) -> None:
    response = harness.client.post("/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_userinfo_without_or_with_a_forged_token_is_401(harness: Harness) -> None:
    assert harness.client.get("/userinfo").status_code == 401
    forged = jwt.encode({"sub": "x", "iss": ISSUER, "exp": 9999999999, "iat": 1, "jti": "j"}, "secret",
                        algorithm="HS256", headers={"typ": "at+jwt"})
    response = harness.client.get("/userinfo", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_discovery_lists_exactly_the_supported_surface(harness: Harness) -> None:
    metadata = harness.client.get("/.well-known/openid-configuration").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "none" not in metadata["id_token_signing_alg_values_supported"]


def test_at_hash_is_the_left_half_of_the_access_token_hash(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    body = harness.exchange(code, verifier).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_client_secret_post_is_accepted_for_clients_registered_for_it(harness: Harness) -> None:
    client_id, secret = make_client(harness.engine, REDIRECT_URI, auth_method="client_secret_post")
    code, verifier = harness.obtain_code(client_id=client_id)
    response = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
                                                   "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    code, verifier = harness.obtain_code(client_id=client_id)
    basic = harness.client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                                auth=(client_id, secret))
    assert basic.status_code == 401  # only the registered method


def test_id_token_nonce_is_echoed_exactly(harness: Harness) -> None:
    code, verifier = harness.obtain_code(nonce="n-üñíçødé-42")
    claims = jwt.decode(harness.exchange(code, verifier).json()["id_token"], options={"verify_signature": False})
    assert claims["nonce"] == "n-üñíçødé-42"


def test_a_repeated_parameter_is_invalid_request_and_consumes_nothing(harness: Harness) -> None:
    """RFC 6749 §3.2. Readers disagree on which copy counts (the last for a dict, the first for authlib):
    a code sent with a second grant_type must not be consumed on some other grant's path."""
    code, verifier = harness.obtain_code()
    body = (f"grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_URI}&code_verifier={verifier}"
            "&grant_type=client_credentials")
    confused = harness.client.post("/token", content=body.encode(), auth=(harness.client_id, harness.client_secret),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert confused.status_code == 400 and confused.json()["error"] == "invalid_request"
    assert harness.exchange(code, verifier).status_code == 200  # the code is still there, once


def test_a_replay_racing_the_first_exchange_leaves_neither_with_tokens(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 6749 §4.1.2: the replay arrives after the first exchange took the code but before it stored
    what it issued; the first exchange must then not hand out its tokens either."""
    code, verifier = harness.obtain_code()
    store = harness.services.store
    store_records = store.put_many
    replay_saw: list[object] = []

    def replay_before_the_records_are_stored(records: list[Put]) -> None:
        replay_saw.append(used_code_record(store, code))  # what the replay's grant reads at that moment
        store_records(records)

    monkeypatch.setattr(store, "put_many", replay_before_the_records_are_stored)
    first = harness.exchange(code, verifier)
    assert replay_saw and not replay_saw[0]["access_token_jti"]  # type: ignore[index]  # really raced
    assert first.status_code == 400 and first.json()["error"] == "invalid_grant"  # type: ignore[attr-defined]
    with Session(harness.engine) as session:
        families = session.exec(select(RefreshToken).where(col(RefreshToken.client_id) == harness.client_id)).all()
    assert families and all(row.revoked_at is not None for row in families)
