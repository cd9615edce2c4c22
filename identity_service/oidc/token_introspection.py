"""Introspection (RFC 7662) and revocation (RFC 7009) with client authentication.

A token is active only while its record exists, its family is not revoked and its account is
active: revoking or locking takes effect at once, not when the JWT expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from identity_service.oidc.tokens import ACCESS_TOKENS, AccessTokenState
from identity_service.storage.models import RefreshToken

if TYPE_CHECKING:
    from identity_service.oidc.clients import OAuthClient
    from identity_service.oidc.server import IdentityAuthorizationServer

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


@dataclass(frozen=True)
class FoundToken:
    kind: str  # "access_token" or "refresh_token"
    client_id: str
    active: bool
    claims: dict[str, Any]
    jti: str | None = None
    refresh_row: RefreshToken | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.client_id


def find_token(server: IdentityAuthorizationServer, token: str, hint: str | None) -> FoundToken | None:
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        found = _find_access(server, token) if kind == "access_token" else _find_refresh(server, token)
        if found is not None:
            return found
    return None


def account_active(server: IdentityAuthorizationServer, account_id: str | None) -> bool:
    if account_id is None:
        return True  # client_credentials tokens have no citizen behind them
    subject = server.accounts.load_subject(account_id)
    return subject is not None and subject.account.status == "active"


def _find_access(server: IdentityAuthorizationServer, token: str) -> FoundToken | None:
    if token.count(".") != 2:
        return None
    state = server.issuer.verify_access_token_blocking(token)
    if state is None:
        return None
    return access_token_found(state, account_active(server, state.record.get("account_id")))


def access_token_found(state: AccessTokenState, account_active: bool) -> FoundToken:
    """A verified access token as introspection and revocation see it."""
    return FoundToken("access_token", str(state.record["client_id"]), account_active, state.claims,
                      jti=str(state.claims["jti"]))


def _find_refresh(server: IdentityAuthorizationServer, token: str) -> FoundToken | None:
    row = server.refresh_tokens.find(token)
    if row is None:
        return None
    active = server.refresh_tokens.is_active(row) and account_active(server, row.account_id)
    client = server.query_client(row.client_id)
    claims: dict[str, Any] = {"scope": row.scope, "client_id": row.client_id,
                              "exp": int(row.expires_at.timestamp()), "iat": int(row.issued_at.timestamp())}
    if client is not None:
        claims["sub"] = server.issuer.subject(client.row, row.account_id)
    return FoundToken("refresh_token", row.client_id, active, claims, refresh_row=row)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: IdentityAuthorizationServer

    def authenticate_token(self, request: Any, client: OAuthClient) -> FoundToken | None:
        # The endpoint may have looked the token up already, asynchronously (oidc/introspection.py);
        # authlib still authenticates the client first and checks permission after.
        prefetched: object = getattr(request, "prefetched_token", False)
        if prefetched is False:
            found: FoundToken | None = super().authenticate_token(request, client)
            return found
        self.check_params(request, client)
        if isinstance(prefetched, FoundToken) and self.check_permission(prefetched, client, request):
            return prefetched
        return None

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        if not token_string or len(token_string) > 8192:
            return None
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: OAuthClient, request: Any) -> bool:
        # A client may introspect its own tokens; resource servers are registered as the same client.
        return token.client_id == client.client_id

    def create_introspection_payload(self, token: FoundToken | None) -> dict[str, Any]:
        if token is None or not token.active:
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        payload: dict[str, Any] = {"active": True, "token_type": token.kind, "client_id": token.client_id,
                                   "iss": self.server.settings.issuer}
        for name in ("scope", "sub", "exp", "iat", "jti", "auth_time", "acr", "amr", "sid", "aud"):
            if name in token.claims and token.claims[name] is not None:
                payload[name] = token.claims[name]
        return payload


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]  # noqa: RUF012 - RFC 7009 §2.1: public clients revoke too
    server: IdentityAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        if not token_string or len(token_string) > 8192:
            return None
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        if token.kind == "access_token" and token.jti:
            self.server.store.delete(ACCESS_TOKENS, token.jti)
        elif token.refresh_row is not None:
            # RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of its grant.
            row = token.refresh_row
            self.server.refresh_tokens.revoke_family(row.family_id, reason="revoked", account_id=row.account_id,
                                                     client_id=row.client_id)
