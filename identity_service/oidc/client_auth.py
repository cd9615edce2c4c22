"""Client authentication beyond shared secrets: ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9).

authlib parses the assertion; the signature check is ours so the algorithm allow-list is fixed
(never ``none``, never HMAC with a public key) and ``jku``/``x5u``/embedded ``jwk`` headers are
ignored: keys come only from the client's registration. Each ``jti`` is accepted once.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import jwt
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion

from identity_service.oidc.offline import require_online

if TYPE_CHECKING:
    from identity_service.oidc.clients import OAuthClient
    from identity_service.oidc.server import IdentityAuthorizationServer
    from identity_service.storage.ephemeral import EphemeralStore

ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256")
MAX_ASSERTION_LIFETIME = 600
_REPLAY = "client_assertion_jti"


def _invalid(description: str) -> InvalidClientError:
    return InvalidClientError(status_code=401, description=description)


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: IdentityAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._server = server

    def get_audiences(self) -> list[str]:
        issuer = self._server.settings.issuer
        return [issuer, f"{issuer}/token", f"{issuer}/introspect", f"{issuer}/revoke", f"{issuer}/par"]

    def resolve_client_public_key(self, client: OAuthClient) -> dict[str, Any]:
        if not client.row.jwks or not client.row.jwks.get("keys"):
            raise _invalid("The client has no registered keys.")
        return client.row.jwks

    def __call__(self, query_client: Any, request: Any) -> OAuthClient | None:
        assertion = request.form.get("client_assertion")
        if request.form.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE or not assertion:
            return None
        if len(assertion) > 8192:
            raise _invalid("The client assertion is too large.")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _invalid("The client assertion is not a JWT.") from exc
        client_id = unverified.get("sub")
        if not isinstance(client_id, str) or unverified.get("iss") != client_id:
            raise _invalid("The assertion's iss and sub must both be the client_id.")
        client: OAuthClient | None = query_client(client_id)
        if client is None:
            raise _invalid("The client does not exist on this server.")
        claims = self._verify(assertion, header, client)
        self._check_replay(client_id, claims)
        request.client = client
        return self.authenticate_client(client)  # type: ignore[no-any-return]

    def _verify(self, assertion: str, header: dict[str, Any], client: OAuthClient) -> dict[str, Any]:
        self.resolve_client_public_key(client)  # no registered keys: a clear error before any decoding
        try:
            return verify_client_assertion(assertion, header, client.row.jwks or {}, self.get_audiences(),
                                           leeway=self.leeway, max_lifetime=MAX_ASSERTION_LIFETIME)
        except InvalidAssertion as exc:
            raise _invalid(str(exc)) from exc

    def _check_replay(self, client_id: str, claims: dict[str, Any]) -> None:
        require_online()  # the replay cache is in the ephemeral store
        if not remember_assertion_jti(self._server.store, client_id, claims, self.leeway):
            raise _invalid("The client assertion was already used (jti replay).")


class InvalidAssertion(Exception):
    """A signed client assertion that must not be accepted; the message says why (no secrets in it)."""


def verify_client_assertion(
    assertion: str, header: dict[str, Any], jwks: dict[str, Any], audiences: list[str], *, leeway: int,
    max_lifetime: int, required: tuple[str, ...] = ("iss", "sub", "aud", "exp", "jti"),
) -> dict[str, Any]:
    """Verify ``assertion`` against the client's registered ``jwks`` only; return its claims.

    Shared by ``private_key_jwt`` at the token endpoints and by the registrar API's per-request
    assertions. The caller has already matched ``iss``/``sub`` to the client (RFC 7523 §3).
    """
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise InvalidAssertion(f"Assertion algorithm must be one of {', '.join(ASSERTION_ALGORITHMS)}.")
    keys = [k for k in jwks.get("keys", [])
            if header.get("kid") in (None, k.get("kid")) and k.get("kty") in ("RSA", "EC")]
    for jwk in keys:
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                assertion, key.key, algorithms=[alg], audience=audiences, leeway=leeway,
                options={"require": list(required)},
            )
        except (jwt.InvalidSignatureError, jwt.exceptions.PyJWKError, jwt.InvalidKeyError):
            continue
        except jwt.PyJWTError as exc:
            raise InvalidAssertion(f"Invalid client assertion: {exc}") from exc
        # RFC 7523 §3 item 4: the server may limit how far in the future exp is.
        if claims["exp"] - time.time() > max_lifetime:
            raise InvalidAssertion("The client assertion lives too long.")
        return claims
    raise InvalidAssertion("The client assertion signature does not verify.")


def remember_assertion_jti(store: EphemeralStore, client_id: str, claims: dict[str, Any], leeway: int) -> bool:
    """Record the assertion's ``jti`` until it expires; False if it was already used (RFC 7523 §3 item 7)."""
    ttl = max(int(claims["exp"] - time.time()) + leeway, 1)
    key = f"{client_id}:{json.dumps(claims['jti'])}"
    return store.add(_REPLAY, key, {}, ttl)
