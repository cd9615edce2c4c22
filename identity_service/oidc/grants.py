"""The authorization-code grant: authlib validates the protocol, these hooks supply storage and policy."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope

from identity_service.oidc.authorization_codes import (
    AuthorizationCode,
    save_code,
    take_code,
    tokens_from_code,
    used_code_record,
)
from identity_service.oidc.clients import OAuthClient
from identity_service.oidc.offline import RotationNeeded, is_offline, require_online
from identity_service.oidc.refresh_tokens import ClaimedRefreshToken, RefreshTokenRejected
from identity_service.oidc.tokens import AuthContext, TokenSubject

if TYPE_CHECKING:
    from identity_service.oidc.server import IdentityAuthorizationServer


class AuthorizedUser:
    """``grant_user`` for authlib: the account plus how this browser session authenticated."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx

    def get_user_id(self) -> str:
        return self.ctx.account_id


class PkceS256(CodeChallenge):  # type: ignore[misc]
    """RFC 9700 §2.1.1 / DESIGN.md: PKCE is required for every client, and only S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("'code_challenge' is required (PKCE with S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]  # noqa: RUF012
    server: IdentityAuthorizationServer

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            # OIDC Core §3.1.2.1: REQUIRED; and with no valid URI we must not redirect.
            raise InvalidRequestError("'redirect_uri' is required.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("'redirect_uri' does not match a registered redirect URI exactly.")
        return str(redirect_uri)

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: AuthorizedUser = request.user
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.get_client_id(),
            account_id=user.ctx.account_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            auth_time=user.ctx.auth_time,
            acr=user.ctx.acr,
            amr=list(user.ctx.amr),
            sid=user.ctx.sid,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        save_code(self.server.store, code, record, self.server.settings.authorization_code_ttl)

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        if not code or len(code) > 200:
            return None
        require_online()  # only client_credentials runs offline; never consume a code on the event loop
        record = take_code(self.server.store, code)
        if record is None:
            used = used_code_record(self.server.store, code)
            if used and used.get("access_token_jti"):
                # RFC 6749 §4.1.2: a replayed code revokes what was issued from it.
                self.server.revoke_issued_from_code(used, reason="code_replayed", client_id=client.get_client_id())
            return None
        if record.client_id != client.get_client_id():
            return None
        return record

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: :func:`take_code` already consumed it atomically."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> TokenSubject:
        subject = self.server.accounts.load_subject(authorization_code.account_id)
        if subject is None or subject.account.status != "active":
            raise InvalidGrantError("The account is not active.")
        return subject

    def generate_token(
        self,
        user: TokenSubject | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        code: AuthorizationCode = self.request.authorization_code
        ctx = AuthContext(
            account_id=code.account_id,
            auth_time=code.auth_time,
            acr=code.acr,
            amr=tuple(code.amr),
            sid=code.sid,
        )
        client: OAuthClient = self.request.client
        granted = scope or ""
        refresh_token, family = None, None
        if client.check_grant_type("refresh_token"):
            refresh_token, family = self.server.refresh_tokens.issue(client.client_id, ctx, granted)
        issued = self.server.issuer.access_token(client.row, ctx, granted, family)
        # Stored by the endpoint with the response, in one round trip (oidc/token.py).
        self.request.pending_writes += [issued.record, tokens_from_code(code.code_hash, issued.jti, family)]
        return _token_response(self.server, issued.token, granted, refresh_token)


class ActiveAtClaim:
    """``grant_user`` after PostgreSQL's one-statement rotation, whose claim required an active account
    (:meth:`RefreshTokenStore.rotate`): nothing left to load, since a refresh response has no ID token."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def get_user_id(self) -> str:
        return self.account_id


def _token_response(server: IdentityAuthorizationServer, access_token: str, scope: str,
                    refresh_token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                            "expires_in": server.settings.access_token_ttl, "scope": scope}
    if refresh_token:
        body["refresh_token"] = refresh_token
    return body


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 §6 with rotation and reuse detection (:mod:`identity_service.oidc.refresh_tokens`)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CodeGrant.TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: IdentityAuthorizationServer

    def validate_token_request(self) -> None:
        client = self._validate_request_client()
        self.request.client = client
        presented = self.request.form.get("refresh_token")
        if not presented:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        self.request.successor = None
        if not self.request.payload.scope:
            # The usual case, in one statement on PostgreSQL; None sends every other case below.
            if is_offline():
                # On the event loop the endpoint rotates asynchronously, then finish_refresh (server.py).
                raise RotationNeeded(self, presented, client.get_client_id())
            rotated = self.server.refresh_tokens.rotate(presented, client.get_client_id())
            if rotated is not None:
                self.request.refresh_token, self.request.successor = rotated
                return
        require_online()  # reuse, the grace window, revocation: the general path blocks
        found = self.server.refresh_tokens.find_for_rotation(presented)
        if found is None or found.row.client_id != client.get_client_id():
            raise InvalidGrantError("The refresh token is invalid.")
        requested = set((self.request.payload.scope or "").split())
        if not requested <= set(found.row.scope.split()):
            raise InvalidScopeError("The requested scope exceeds the original grant.")
        try:
            # Checked before the claim so a bad request does not consume the token.
            self.request.refresh_token = self.server.refresh_tokens.claim(found)
        except RefreshTokenRejected as exc:
            raise InvalidGrantError(str(exc)) from exc

    def authenticate_user(self, refresh_token: ClaimedRefreshToken) -> TokenSubject | ActiveAtClaim:
        if self.request.successor is not None:
            return ActiveAtClaim(refresh_token.account_id)
        subject = self.server.accounts.load_subject(refresh_token.account_id)
        if subject is None or subject.account.status != "active":
            raise InvalidGrantError("The account is not active.")
        return subject

    def generate_token(self, user: TokenSubject | None = None, scope: str | None = None,
                       grant_type: str | None = None, expires_in: int | None = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        claimed: ClaimedRefreshToken = self.request.refresh_token
        client: OAuthClient = self.request.client
        granted = scope or claimed.get_scope()
        family = claimed.family_id
        refresh_token: str | None = self.request.successor  # inserted with the claim (PostgreSQL)
        if refresh_token is None:
            refresh_token, family = self.server.refresh_tokens.issue(client.client_id, claimed.ctx, granted, family)
        issued = self.server.issuer.access_token(client.row, claimed.ctx, granted, family)
        self.request.pending_writes.append(issued.record)
        # OIDC Core §12.2: a refresh response MAY carry an ID token; this one does not (docs/protocol.md):
        # the relying party already holds the citizen's identity, and RS256 signing would cost more
        # than the rest of the rotation.
        return _token_response(self.server, issued.token, granted, refresh_token)

    def revoke_old_credential(self, refresh_token: ClaimedRefreshToken) -> None:
        """Nothing to do: the claim in :meth:`validate_token_request` already consumed it."""


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """RFC 6749 §4.4 for machine clients: a token about the client itself, never a citizen."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]  # noqa: RUF012
    server: IdentityAuthorizationServer

    def generate_token(self, user: object = None, scope: str | None = None, grant_type: str | None = None,
                       expires_in: int | None = None, include_refresh_token: bool = False) -> dict[str, Any]:
        client: OAuthClient = self.request.client
        granted = client.get_allowed_scope(scope) if scope else client.row.allowed_scopes
        issued = self.server.issuer.client_access_token(client.row, granted)
        self.request.pending_writes.append(issued.record)
        return _token_response(self.server, issued.token, granted, None)


class OpenIDCodeExtension(OpenIDCode):  # type: ignore[misc]
    """Adds the ID token; claims and signing are ours (cached key, pairwise sub, acr/amr/sid)."""

    def __init__(self, server: IdentityAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def __call__(self, grant: grants.BaseGrant) -> None:
        # authlib's prompt hook needs the end user at validation time; the session is only known
        # to the web layer, which applies prompt/max_age itself (oidc/authorization.py).
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook("after_validate_authorization_request_payload",
                                self.validate_openid_authorization_request)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Nonce replay is the RP's check (OIDC Core §3.1.3.7 step 11); the OP only echoes it.
        return False

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        code: AuthorizationCode = request.authorization_code
        ctx = AuthContext(code.account_id, code.auth_time, code.acr, tuple(code.amr), code.sid)
        return self._server.issuer.id_token(
            request.client.row, request.user, ctx, token["scope"], code.nonce, token.get("access_token")
        )
