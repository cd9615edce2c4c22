"""Key rotation at the protocol level, and ES256 ID tokens for clients that ask for them."""

from __future__ import annotations

import jwt

from identity_service.security.keys import rotate
from tests.harness import ISSUER, Harness, published_key


def _tokens(harness: Harness) -> dict[str, str]:
    code, verifier = harness.obtain_code()
    body: dict[str, str] = harness.exchange(code, verifier).json()
    return body


def test_rotation_switches_signing_and_keeps_old_tokens_valid(harness: Harness) -> None:
    before = _tokens(harness)
    old_kid = jwt.get_unverified_header(before["id_token"])["kid"]
    keys_dir = harness.services.settings.keys_dir
    new = rotate(keys_dir, "RS256", publish_ahead=0, keep_after=3600)
    harness.services.keys.reload(force=True)
    jwks = harness.client.get("/jwks.json").json()
    assert {old_kid, new.kid} <= {k["kid"] for k in jwks["keys"]}
    after = _tokens(harness)
    assert jwt.get_unverified_header(after["id_token"])["kid"] == new.kid
    assert harness.client.get("/userinfo", headers={"Authorization": f"Bearer {before['access_token']}"}
                              ).status_code == 200
    jwt.decode(before["id_token"], published_key(jwks, before["id_token"]), algorithms=["RS256"],
               audience=harness.client_id, issuer=ISSUER)


def test_key_published_ahead_does_not_sign_yet(harness: Harness) -> None:
    keys_dir = harness.services.settings.keys_dir
    upcoming = rotate(keys_dir, "RS256", publish_ahead=3600, keep_after=3600)
    harness.services.keys.reload(force=True)
    assert upcoming.kid in {k["kid"] for k in harness.client.get("/jwks.json").json()["keys"]}
    assert jwt.get_unverified_header(_tokens(harness)["id_token"])["kid"] != upcoming.kid


def test_client_registered_for_es256_gets_es256_id_tokens(harness: Harness) -> None:
    harness.update_client(id_token_signed_response_alg="ES256")
    harness.services.oauth.clients.invalidate(harness.client_id)  # as the admin API does
    tokens = _tokens(harness)
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    jwks = harness.client.get("/jwks.json").json()
    claims = jwt.decode(tokens["id_token"], published_key(jwks, tokens["id_token"]), algorithms=["ES256"],
                        audience=harness.client_id, issuer=ISSUER)
    assert claims["at_hash"]
    metadata = harness.client.get("/.well-known/openid-configuration").json()
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
