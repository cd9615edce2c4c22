"""How a registration desk authenticates: one signed assertion per request (RFC 7523 §3 claims).

``Authorization: Bearer <JWT>`` signed with a key registered for the registrar client
(``private_key_jwt``, scope ``registrar``), carrying:

- ``iss`` = ``sub`` = the client_id; ``aud`` = the exact endpoint URL (issuer + path), so an
  assertion made for an unlock cannot be replayed against a revoke;
- ``iat``, ``exp`` at most :data:`MAX_LIFETIME` seconds ahead, and a ``jti`` accepted once;
- ``officer_id`` and ``desk_id``: who acted, and where (non-repudiation per action);
- ``body_sha256``: lowercase hex SHA-256 of the exact request body, so the signature covers it.

The signature check is the one the token endpoint uses (:mod:`identity_service.oidc.client_auth`):
fixed algorithm allow-list, registered keys only, the same ``jti`` replay cache.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

import jwt

from identity_service.admin.clients import REGISTRAR_SCOPE
from identity_service.oidc.client_auth import InvalidAssertion, remember_assertion_jti, verify_client_assertion
from identity_service.oidc.clients import find_client
from identity_service.services import Services

MAX_LIFETIME = 120
LEEWAY = 30
_ACTOR_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "officer_id", "desk_id", "body_sha256")


class RegistrarAuthFailed(Exception):
    """Authentication (401) or authorization (403) failed; ``reason`` is machine-readable."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class RegistrarCaller:
    client_id: str
    officer_id: str
    desk_id: str


def _unauthorized(reason: str, detail: str) -> RegistrarAuthFailed:
    return RegistrarAuthFailed(401, reason, detail)


def _unverified(authorization: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise _unauthorized("assertion_missing", "Send a signed registrar assertion as a Bearer token.")
    try:
        return token, jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _unauthorized("assertion_malformed", "The assertion is not a JWT.") from exc


def authenticate_registrar(services: Services, authorization: str, path: str, body: bytes) -> RegistrarCaller:
    """Verify the request's assertion; blocking (database, store): call it from the threadpool."""
    token, header, unverified = _unverified(authorization)
    client_id = unverified.get("sub")
    if not isinstance(client_id, str) or unverified.get("iss") != client_id:
        raise _unauthorized("assertion_invalid", "The assertion's iss and sub must both be the client_id.")
    client = find_client(services.engine, client_id)
    if client is None or client.row.token_endpoint_auth_method != "private_key_jwt" or not client.row.jwks:
        raise _unauthorized("unknown_client", "No registrar client with registered keys has this client_id.")
    audience = f"{services.settings.issuer}{path}"
    try:
        claims = verify_client_assertion(token, header, client.row.jwks, [audience], leeway=LEEWAY,
                                         max_lifetime=MAX_LIFETIME, required=_REQUIRED)
    except InvalidAssertion as exc:
        raise _unauthorized("assertion_invalid", str(exc)) from exc
    officer, desk = claims.get("officer_id"), claims.get("desk_id")
    if not (isinstance(officer, str) and _ACTOR_ID.match(officer) and isinstance(desk, str)
            and _ACTOR_ID.match(desk)):
        raise _unauthorized("actor_invalid", "officer_id and desk_id must be 1-64 characters of A-Z a-z 0-9 . _ : -.")
    if not hmac.compare_digest(str(claims["body_sha256"]), hashlib.sha256(body).hexdigest()):
        raise _unauthorized("body_hash_mismatch", "body_sha256 does not match the request body.")
    if not remember_assertion_jti(services.store, client_id, claims, LEEWAY):
        raise _unauthorized("assertion_replayed", "The assertion was already used (jti replay).")
    if REGISTRAR_SCOPE not in client.row.allowed_scopes.split():
        raise RegistrarAuthFailed(403, "insufficient_scope", "The client is not registered with the registrar scope.")
    return RegistrarCaller(client_id, officer, desk)
