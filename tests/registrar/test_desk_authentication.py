"""Each registrar request must carry a fresh assertion signed by a registered desk key."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.factories import make_client
from tests.harness import REDIRECT_URI, Harness
from tests.registrar.desk import Desk, account_of, citizen_of, evidence_for, new_key


def _refused(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    assert "www-authenticate" in response.headers


def test_a_key_the_desk_did_not_register_is_refused(harness: Harness, desk: Desk) -> None:
    other, _ = new_key()
    body = evidence_for(citizen_of(harness))
    raw = json.dumps(body).encode()
    _refused(desk.post("/registrar/level2", body, assertion=desk.assertion("/registrar/level2", raw, key=other)),
             401, "assertion_invalid")
    assert account_of(harness).level == 1


@pytest.mark.parametrize("overrides", [
    {"exp": int(time.time()) - 120},                 # expired
    {"exp": int(time.time()) + 600},                 # lives longer than a desk action needs
    {"aud": "http://localhost:8000/registrar/revoke"},  # made for another operation
    {"iss": "someone-else"},
])
def test_expired_or_misdirected_assertions_are_refused(harness: Harness, desk: Desk, overrides: dict[str, Any]) -> None:
    reason = "assertion_invalid"
    _refused(desk.post("/registrar/level2", evidence_for(citizen_of(harness)), **overrides), 401, reason)


@pytest.mark.parametrize("missing", ["officer_id", "desk_id", "body_sha256", "jti"])
def test_assertion_without_officer_desk_body_hash_or_jti_is_refused(
    harness: Harness, desk: Desk, missing: str
) -> None:
    response = desk.post("/registrar/level2", evidence_for(citizen_of(harness)), **{missing: None})
    _refused(response, 401, "assertion_invalid")


def test_replayed_jti_is_refused(harness: Harness, desk: Desk) -> None:
    body = evidence_for(citizen_of(harness))
    assertion = desk.assertion("/registrar/level2", json.dumps(body).encode())
    assert desk.post("/registrar/level2", body, assertion=assertion).status_code == 200
    _refused(desk.post("/registrar/level2", body, assertion=assertion), 401, "assertion_replayed")


def test_a_body_other_than_the_signed_one_is_refused(harness: Harness, desk: Desk) -> None:
    body = evidence_for(citizen_of(harness))
    assertion = desk.assertion("/registrar/level2", json.dumps(body).encode())
    tampered = {**body, "cccd": body["cccd"][:-1] + str((int(body["cccd"][-1]) + 1) % 10)}
    _refused(desk.post("/registrar/level2", tampered, assertion=assertion), 401, "body_hash_mismatch")


def test_a_client_without_the_registrar_scope_is_forbidden(harness: Harness) -> None:
    private, public_jwk = new_key()
    client_id, _ = make_client(harness.engine, REDIRECT_URI, scopes="openid", auth_method="private_key_jwt",
                               jwks={"keys": [public_jwk]})
    relying_party = Desk(harness, client_id, private, public_jwk["kid"])
    _refused(relying_party.post("/registrar/lock", {"request_id": "req-00000001", "cccd": harness.cccd,
                                                    "reason": "authority_request"}), 403, "insufficient_scope")
    assert account_of(harness).status == "active"


def test_a_client_secret_client_cannot_act_as_a_desk(harness: Harness, desk: Desk) -> None:
    client_id, _ = make_client(harness.engine, REDIRECT_URI, scopes="openid")
    body = evidence_for(citizen_of(harness))
    response = desk.post("/registrar/level2", body, iss=client_id, sub=client_id)
    _refused(response, 401, "unknown_client")


def test_no_assertion_is_401(harness: Harness) -> None:
    response = harness.client.post("/registrar/lock", json={"request_id": "req-00000001", "cccd": harness.cccd,
                                                            "reason": "citizen_request"})
    _refused(response, 401, "assertion_missing")


def test_registrar_scope_is_only_registered_for_private_key_jwt() -> None:
    from pydantic import ValidationError

    from identity_service.admin.clients import ClientSpec

    with pytest.raises(ValidationError, match="registrar scope"):
        ClientSpec.model_validate({"name": "Desk", "scopes": ["registrar"], "grant_types": ["client_credentials"],
                                   "token_endpoint_auth_method": "client_secret_basic"})
    _, public_jwk = new_key()
    ClientSpec.model_validate({"name": "Desk", "scopes": ["registrar"], "grant_types": ["client_credentials"],
                               "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk]}})
