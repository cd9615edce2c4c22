"""The thin adapter between authlib's (synchronous) server classes and Starlette.

authlib ships Flask and Django integrations only. Starlette reads bodies asynchronously, so
routes read the request first, wrap it in :class:`HttpRequest`, and run authlib in the
threadpool (its storage hooks do blocking I/O; they must not run on the event loop).

Hot requests whose hooks need no I/O run authlib on the event loop instead, in *offline* mode
(:mod:`identity_service.oidc.offline`): clients come only from the
in-process cache, and a hook that would need storage raises :class:`StorageNeeded`, which sends the
request to the threadpool path. Either way the grants do not write the records of the tokens they
issue: they append them to ``request.pending_writes`` and the endpoint stores them with its own
state (the rate-limit counter) in one round trip, after authlib accepted the request.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Error, OAuth2Payload, OAuth2Request
from starlette.responses import Response

from identity_service.oidc.claims import SUPPORTED_SCOPES
from identity_service.oidc.client_auth import PrivateKeyJwt
from identity_service.oidc.clients import ClientCache, OAuthClient
from identity_service.oidc.grants import ClientCredentials, CodeGrant, OpenIDCodeExtension, PkceS256, RefreshGrant
from identity_service.oidc.offline import RotationNeeded, StorageNeeded, is_offline, offline_run
from identity_service.oidc.token_introspection import Introspection, Revocation

# authlib logs issued tokens and credentials at DEBUG ("Issue token …"): never let them through,
# whatever the service's own log level (no secrets in logs).
logging.getLogger("authlib").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from identity_service.config import Settings
    from identity_service.identity.accounts import AccountService
    from identity_service.oidc.refresh_tokens import ClaimedRefreshToken, RefreshTokenStore
    from identity_service.oidc.tokens import TokenIssuer
    from identity_service.storage.ephemeral import EphemeralStore, Put

@dataclass(frozen=True)
class HttpRequest:
    """Everything authlib needs from an HTTP request, already read from the socket."""

    method: str
    url: str
    headers: Mapping[str, str]  # case-insensitive (Starlette Headers) for authlib's lookups
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: HttpRequest) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        self._args = dict(request.query[::-1])
        self._form = dict(request.form[::-1])
        self.payload = _Payload(request.query + request.form if request.method == "POST" else request.query)
        self.pending_writes: list[Put] = []  # records of issued tokens, stored by the endpoint
        self.successor: str | None = None  # refresh grant: the rotated token, when issued with the claim

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _JsonPayload(JsonPayload):  # type: ignore[misc]
    def __init__(self, data: dict[str, Any]) -> None:
        self._json = data

    @property
    def data(self) -> dict[str, Any]:
        return self._json


class StarletteJsonRequest(JsonRequest):  # type: ignore[misc]
    def __init__(self, request: HttpRequest, body: dict[str, Any]) -> None:
        super().__init__(request.method, request.url, request.headers)
        self.payload = _JsonPayload(body)


class IdentityAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's server with our storage hooks; responses are Starlette responses."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        store: EphemeralStore,
        issuer: TokenIssuer,
        accounts: AccountService,
        refresh_tokens: RefreshTokenStore,
    ) -> None:
        super().__init__(scopes_supported=[*SUPPORTED_SCOPES, "admin"])  # admin: client_credentials only
        self.settings = settings
        self.engine = engine
        self.store = store
        self.issuer = issuer
        self.accounts = accounts
        self.refresh_tokens = refresh_tokens
        self.clients = ClientCache(engine, settings.client_cache_ttl)
        self.register_grant(CodeGrant, [PkceS256(required=True), OpenIDCodeExtension(self)])
        self.register_grant(RefreshGrant)
        self.register_grant(ClientCredentials)
        self.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(self))
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)

    def revoke_issued_from_code(self, used: dict[str, Any], reason: str, client_id: str | None = None) -> None:
        """Revoke the access token and refresh-token family recorded for a redeemed code (RFC 6749 §4.1.2)."""
        if used.get("access_token_jti"):
            self.issuer.revoke_access_token(str(used["access_token_jti"]))
        if used.get("family"):
            self.refresh_tokens.revoke_family(str(used["family"]), reason=reason, client_id=client_id)

    def query_client(self, client_id: str) -> OAuthClient | None:
        if is_offline():
            client = self.clients.cached(client_id)
            if client is None:
                raise StorageNeeded()
            return client
        return self.clients.get(client_id)

    def token_response(self, request: HttpRequest, offline: bool = False) -> tuple[Response, list[Put]]:
        """authlib's token response and the records the endpoint must store before sending it.

        ``offline`` runs it on the event loop (no hook may block): it raises :class:`StorageNeeded`
        when the request needs storage after all.
        """
        oauth2_request = self.create_oauth2_request(request)
        with offline_run(offline):
            response: Response = self.create_token_response(oauth2_request)
        return response, oauth2_request.pending_writes if response.status_code == 200 else []

    def finish_refresh(self, needed: RotationNeeded,
                       rotated: tuple[ClaimedRefreshToken, str]) -> tuple[Response, list[Put]]:
        """Finish the refresh grant an offline run stopped at (:class:`RotationNeeded`), with the rotation
        the endpoint made on the event loop: the rest of authlib's ``create_token_response``."""
        grant: RefreshGrant = needed.grant
        grant.request.refresh_token, grant.request.successor = rotated
        with offline_run(True):
            try:
                response: Response = self.handle_response(*grant.create_token_response())
            except OAuth2Error as error:
                response = self.handle_error_response(grant.request, error)
        return response, grant.request.pending_writes if response.status_code == 200 else []

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens are recorded when they are issued (:class:`TokenIssuer`)."""

    def endpoint_response(self, name: str, request: HttpRequest, offline: bool = False,
                          prefetched_token: object = None) -> Response:
        """An endpoint's response (introspection, revocation); ``prefetched_token`` is the token the
        caller already looked up asynchronously (introspection), used instead of a blocking lookup."""
        oauth2_request = self.create_oauth2_request(request)
        if offline:
            oauth2_request.prefetched_token = prefetched_token
        with offline_run(offline):
            response: Response = self.create_endpoint_response(name, oauth2_request)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal bus: events that matter are audited by the callers."""

    def create_oauth2_request(self, request: HttpRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return StarletteOAuth2Request(request)

    def create_json_request(self, request: HttpRequest) -> JsonRequest:  # pragma: no cover - no JSON endpoints
        return StarletteJsonRequest(request, {})

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        response_headers = dict(headers)
        if isinstance(body, dict):
            content = json.dumps(body, separators=(",", ":")).encode()
            response_headers["Content-Type"] = "application/json"
        else:
            content = (body or "").encode()
        # RFC 6749 §5.1: token responses (and errors) must not be cached.
        response_headers.setdefault("Cache-Control", "no-store")
        response_headers.setdefault("Pragma", "no-cache")
        return Response(content=content, status_code=status, headers=response_headers)
