"""Introspection (RFC 7662), revocation (RFC 7009) and client_credentials (RFC 6749 §4.4)."""

from __future__ import annotations

import httpx
import jwt
from sqlmodel import Session, select

from identity_service.oidc.tokens import ACCESS_TOKENS
from identity_service.storage.models import Account
from tests.factories import make_client
from tests.harness import REDIRECT_URI, Harness


def _tokens(harness: Harness) -> dict[str, str]:
    code, verifier = harness.obtain_code()
    body: dict[str, str] = harness.exchange(code, verifier).json()
    return body


def _introspect(harness: Harness, token: str, auth: tuple[str, str] | None = None, **extra: str) -> httpx.Response:
    return harness.client.post("/introspect", data={"token": token, **extra},
                               auth=auth or (harness.client_id, harness.client_secret))


def test_active_access_token_introspects_with_its_claims(harness: Harness) -> None:
    tokens = _tokens(harness)
    body = _introspect(harness, tokens["access_token"]).json()
    assert body["active"] is True
    assert body["client_id"] == harness.client_id
    assert body["token_type"] == "access_token"
    assert set(body["scope"].split()) == {"openid", "profile"}
    assert body["sub"] and body["exp"] > body["iat"]


def test_refresh_token_introspects_as_refresh_token(harness: Harness) -> None:
    tokens = _tokens(harness)
    body = _introspect(harness, tokens["refresh_token"], token_type_hint="refresh_token").json()
    assert body["active"] is True and body["token_type"] == "refresh_token"


def test_introspection_requires_client_authentication(harness: Harness) -> None:
    tokens = _tokens(harness)
    response = harness.client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert _introspect(harness, tokens["access_token"], auth=(harness.client_id, "wrong")).status_code == 401


def test_another_client_cannot_learn_about_a_token(harness: Harness) -> None:
    tokens = _tokens(harness)
    other = make_client(harness.engine, REDIRECT_URI)
    assert _introspect(harness, tokens["access_token"], auth=other).json() == {"active": False}


def test_garbage_and_forged_tokens_are_inactive(harness: Harness) -> None:
    assert _introspect(harness, "garbage").json() == {"active": False}
    assert _introspect(harness, "a.b.c").json() == {"active": False}


def test_locked_account_tokens_introspect_as_inactive_at_once(harness: Harness) -> None:
    tokens = _tokens(harness)
    with Session(harness.engine) as session:
        row = session.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        row.status = "locked"
        session.add(row)
        session.commit()
    assert _introspect(harness, tokens["access_token"]).json() == {"active": False}
    assert _introspect(harness, tokens["refresh_token"]).json() == {"active": False}
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                              ).status_code == 401


def test_revoked_access_token_is_inactive_and_rejected_by_userinfo(harness: Harness) -> None:
    tokens = _tokens(harness)
    response = harness.client.post("/revoke", data={"token": tokens["access_token"]},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 200
    assert _introspect(harness, tokens["access_token"]).json() == {"active": False}
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                              ).status_code == 401


def test_revoking_a_refresh_token_revokes_its_access_tokens(harness: Harness) -> None:
    tokens = _tokens(harness)
    response = harness.client.post("/revoke", data={"token": tokens["refresh_token"],
                                                    "token_type_hint": "refresh_token"},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 200
    assert _introspect(harness, tokens["refresh_token"]).json() == {"active": False}
    assert _introspect(harness, tokens["access_token"]).json() == {"active": False}
    refresh = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": tokens["refresh_token"]},
                                  auth=(harness.client_id, harness.client_secret))
    assert refresh.json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_still_200(harness: Harness) -> None:
    response = harness.client.post("/revoke", data={"token": "never-issued"},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 200  # RFC 7009 §2.2


def test_revocation_without_token_parameter_is_invalid_request(harness: Harness) -> None:
    response = harness.client.post("/revoke", data={}, auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_client_credentials_issues_a_client_token_with_allowed_scopes_only(harness: Harness) -> None:
    machine_id, machine_secret = make_client(harness.engine, REDIRECT_URI, scopes="openid citizen_id",
                                             grant_types=("client_credentials",))
    response = harness.client.post("/token", data={"grant_type": "client_credentials", "scope": "citizen_id phone"},
                                   auth=(machine_id, machine_secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "citizen_id"
    assert "refresh_token" not in body and "id_token" not in body
    info = _introspect(harness, body["access_token"], auth=(machine_id, machine_secret)).json()
    assert info["active"] is True and info["sub"] == machine_id


def test_client_credentials_is_refused_for_clients_not_registered_for_it(harness: Harness) -> None:
    response = harness.client.post("/token", data={"grant_type": "client_credentials"},
                                   auth=(harness.client_id, harness.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_client_credentials_served_on_the_event_loop_keeps_every_check(harness: Harness) -> None:
    """Once the client is cached, client_credentials runs authlib on the event loop (oidc/token.py):
    the same client authentication, grant-type and scope rules apply, and the token is recorded."""
    machine_id, machine_secret = make_client(harness.engine, REDIRECT_URI, scopes="openid citizen_id",
                                             grant_types=("client_credentials",))
    first = harness.client.post("/token", data={"grant_type": "client_credentials"}, auth=(machine_id, machine_secret))
    assert first.status_code == 200  # read from the table, now cached
    assert harness.services.oauth.clients.cached(machine_id) is not None

    wrong_secret = harness.client.post("/token", data={"grant_type": "client_credentials"},
                                       auth=(machine_id, machine_secret + "x"))
    secret_in_body = harness.client.post("/token", data={"grant_type": "client_credentials", "client_id": machine_id,
                                                         "client_secret": machine_secret})
    no_secret = harness.client.post("/token", data={"grant_type": "client_credentials", "client_id": machine_id})
    narrowed = harness.client.post("/token", data={"grant_type": "client_credentials", "scope": "citizen_id phone"},
                                   auth=(machine_id, machine_secret))

    for refused in (wrong_secret, secret_in_body, no_secret):
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert refused.headers["cache-control"] == "no-store"
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "citizen_id"
    assert narrowed.headers["cache-control"] == "no-store"
    info = _introspect(harness, narrowed.json()["access_token"], auth=(machine_id, machine_secret)).json()
    assert info["active"] is True and info["scope"] == "citizen_id"
    # A cached client that may not use the grant is refused on the event loop too.
    harness.client.post("/token", data={"grant_type": "client_credentials"},
                        auth=(harness.client_id, harness.client_secret))
    assert harness.services.oauth.clients.cached(harness.client_id) is not None
    refused_grant = harness.client.post("/token", data={"grant_type": "client_credentials"},
                                        auth=(harness.client_id, harness.client_secret))
    assert refused_grant.status_code == 400 and refused_grant.json()["error"] == "unauthorized_client"


def test_revoking_a_client_credentials_token_makes_it_inactive(harness: Harness) -> None:
    machine_id, machine_secret = make_client(harness.engine, REDIRECT_URI, scopes="openid",
                                             grant_types=("client_credentials",))
    token = harness.client.post("/token", data={"grant_type": "client_credentials"},
                                auth=(machine_id, machine_secret)).json()["access_token"]
    assert harness.client.post("/revoke", data={"token": token}, auth=(machine_id, machine_secret)).status_code == 200
    assert _introspect(harness, token, auth=(machine_id, machine_secret)).json() == {"active": False}


def test_an_access_token_from_before_jtis_carried_the_family_still_dies_with_its_family(harness: Harness) -> None:
    """Records live as long as their tokens, so for a few minutes after an upgrade a token's family is
    only in its record: verification reads the family's marker separately then."""
    tokens = _tokens(harness)
    issuer, settings = harness.services.issuer, harness.services.settings
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    legacy_jti, family = claims["jti"].split(".", 1)
    key = harness.services.keys.active_for(settings.access_token_alg)
    legacy = jwt.encode({**claims, "jti": legacy_jti}, key.private_key, algorithm=settings.access_token_alg,
                        headers={"kid": key.kid, "typ": "at+jwt"})
    record = harness.services.store.get(ACCESS_TOKENS, claims["jti"])
    assert record is not None and record["family"] == family
    harness.services.store.put(ACCESS_TOKENS, legacy_jti, record, 60)
    assert _introspect(harness, legacy).json()["active"] is True
    assert issuer.verify_access_token_blocking(legacy) is not None

    harness.services.oauth.refresh_tokens.revoke_family(family, reason="revoked")

    assert _introspect(harness, legacy).json() == {"active": False}
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {legacy}"}).status_code == 401
    assert issuer.verify_access_token_blocking(legacy) is None
