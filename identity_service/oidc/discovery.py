"""OpenID Provider metadata (OIDC Discovery §3): exactly what is supported, serialised once."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity_service.config import Settings
from identity_service.oidc.claims import SUPPORTED_CLAIMS, SUPPORTED_SCOPES
from identity_service.oidc.client_auth import ASSERTION_ALGORITHMS

router = APIRouter(tags=["OpenID Connect"])


def provider_metadata(settings: Settings, signing_algorithms: tuple[str, ...] = ("RS256",)) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "end_session_endpoint": f"{issuer}/end_session",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "require_pushed_authorization_requests": False,
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                          "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                       "private_key_jwt", "none"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "claims_supported": list(SUPPORTED_CLAIMS),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(signing_algorithms),
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt",
                                                  "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [settings.acr_level1, settings.acr_level2],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["vi", "en"],
        "claim_types_supported": ["normal"],
    }


def metadata_bytes(settings: Settings, signing_algorithms: tuple[str, ...] = ("RS256",)) -> bytes:
    return json.dumps(provider_metadata(settings, signing_algorithms), separators=(",", ":")).encode()


@router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
async def openid_configuration(request: Request) -> Response:
    """Served from bytes computed at start-up: the hot path does no work."""
    body: bytes = request.app.state.discovery_json
    return Response(body, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})
