"""Discovery lists exactly what is supported (OIDC Discovery §3), and every endpoint it names answers."""

from __future__ import annotations

from tests.harness import ISSUER, Harness


def test_every_advertised_endpoint_exists(harness: Harness) -> None:
    metadata = harness.client.get("/.well-known/openid-configuration").json()
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "introspection_endpoint", "revocation_endpoint", "pushed_authorization_request_endpoint",
                 "end_session_endpoint"):
        assert metadata[name].startswith(ISSUER), name
        path = metadata[name].removeprefix(ISSUER)
        method = "GET" if name in ("jwks_uri", "authorization_endpoint", "end_session_endpoint") else "POST"
        response = harness.client.request(method, path, follow_redirects=False)
        assert response.status_code not in (404, 405, 500), (name, response.status_code)


def test_only_supported_values_are_advertised(harness: Harness) -> None:
    metadata = harness.client.get("/.well-known/openid-configuration").json()
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert not any(alg.startswith("HS") for alg in metadata["token_endpoint_auth_signing_alg_values_supported"])
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert metadata["frontchannel_logout_supported"] is False
    assert metadata["backchannel_logout_supported"] is True
    assert set(metadata["response_modes_supported"]) == {"query", "form_post"}


def test_discovery_and_jwks_are_cacheable_and_precomputed(harness: Harness) -> None:
    first = harness.client.get("/.well-known/openid-configuration")
    assert "max-age" in first.headers["cache-control"]
    assert first.content == harness.client.get("/.well-known/openid-configuration").content
    assert harness.client.get("/jwks.json").headers["content-type"].startswith("application/jwk-set+json")
