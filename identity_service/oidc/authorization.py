"""The authorization endpoint's decisions (OIDC Core §3.1.2), free of HTTP and templates.

A request is validated by authlib, parked in the ephemeral store while the citizen logs in
and consents, and resumed by id. Errors go back to the client only when its ``redirect_uri``
was validated; otherwise the browser sees a page (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from starlette.datastructures import Headers

from identity_service.identity.audit import AuditTrail, event_row, insert_events
from identity_service.identity.consents import Consents, grant_consent
from identity_service.identity.levels import AcrValues, LevelRequirement, required_level
from identity_service.oidc.claims import SCOPE_CLAIMS, claims_released_by
from identity_service.oidc.clients import OAuthClient
from identity_service.oidc.grants import AuthorizedUser
from identity_service.oidc.logout import remember_client
from identity_service.oidc.server import HttpRequest, IdentityAuthorizationServer
from identity_service.oidc.tokens import AuthContext

_PENDING = "authz"
SUPPORTED_PROMPTS = {"none", "login", "consent"}
RESPONSE_MODES = ("query", "form_post")


@dataclass(frozen=True)
class ErrorRedirect:
    """Send the browser back to the client with an error (its redirect_uri was validated)."""

    location: str
    redirect_uri: str
    response_mode: str


@dataclass(frozen=True)
class AuthorizationError:
    """A refused request; ``redirect_uri`` is set only when it was validated for the client."""

    error: str
    description: str
    redirect_uri: str | None
    state: str | None


@dataclass(frozen=True)
class ErrorPage:
    """Show an error page; never redirect to an unvalidated URI."""

    message_key: str
    description: str


@dataclass(frozen=True)
class Pending:
    """A validated authorization request waiting for login and consent."""

    id: str
    query: list[tuple[str, str]]
    client_id: str
    client_name: str
    scope: str
    redirect_uri: str
    state: str | None
    prompts: frozenset[str]
    max_age: int | None
    login_hint: str | None
    ui_locales: str | None
    fresh_login: bool = False
    response_mode: str = "query"
    min_level: int = 1
    preferred_level: int = 1
    # The browser session the authorization flow cleared for the consent step (login freshness,
    # id_token_hint, level): the consent form answers only that session, so it cannot be reached
    # around those checks (e.g. straight to /consent after prompt=login sent the browser to /login).
    consent_sid: str | None = None
    # The masked number of that session's account, when the step that cleared it knew it (the
    # password post), so the consent page need not read it from the database.
    account_display: str | None = None

    @property
    def level_requirement(self) -> LevelRequirement:
        return LevelRequirement(minimum=self.min_level, preferred=self.preferred_level)

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class UnmetRequirement(ValueError):
    """The request insists (``essential``) on something this provider cannot deliver."""


@dataclass(frozen=True)
class ClaimsRequest:
    """A validated ``claims`` parameter: the scopes its claims need, and its ``acr`` request."""

    scopes: set[str]
    acr_values: list[str]
    acr_essential: bool


def parse_claims_request(raw: str) -> ClaimsRequest:
    """Validate a ``claims`` request (OIDC Core §5.5); ``acr`` is read from its ``id_token`` member (§5.5.1.1)."""
    if len(raw) > 4096:
        raise ValueError("'claims' is too large")
    try:
        request = json.loads(raw)
    except ValueError:
        raise ValueError("'claims' must be a JSON object (OIDC Core §5.5)") from None
    if not isinstance(request, dict) or not set(request) <= {"userinfo", "id_token"}:
        raise ValueError("'claims' may only have the members userinfo and id_token")
    scopes: set[str] = set()
    for member in request.values():
        if not isinstance(member, dict):
            raise ValueError("claims.userinfo and claims.id_token must be JSON objects")
        for claim, spec in member.items():
            if spec is not None and not isinstance(spec, dict):
                raise ValueError(f"claims request for {claim} must be null or an object")
            scopes |= {scope for scope, names in SCOPE_CLAIMS.items() if claim in names}
    acr = (request.get("id_token") or {}).get("acr")
    if not isinstance(acr, dict):
        return ClaimsRequest(scopes, [], False)
    wanted = acr.get("values") if "values" in acr else ([acr["value"]] if "value" in acr else [])
    if not isinstance(wanted, list) or not all(isinstance(value, str) for value in wanted):
        raise ValueError("claims.id_token.acr values must be strings")
    return ClaimsRequest(scopes, wanted, bool(acr.get("essential")))


def level_requirement(acr: AcrValues, client_min_level: int, acr_values: str | None,
                      claims: ClaimsRequest | None) -> LevelRequirement:
    """The levels a request needs: its client's minimum, ``acr_values``, and the ``acr`` claim request.

    An essential ``acr`` naming only values this provider does not offer cannot be met (OIDC Core
    §5.5.1.1); unknown ``acr_values`` are ignored like any voluntary request (§3.1.2.1).
    """
    requested = acr.levels_of((acr_values or "").split())
    essential: list[int] | None = None
    voluntary: list[int] | None = None
    if claims is not None and claims.acr_values:
        levels = acr.levels_of(claims.acr_values)
        if claims.acr_essential:
            if not levels:
                raise UnmetRequirement(f"acr {', '.join(claims.acr_values)} cannot be satisfied")
            essential = levels
        else:
            voluntary = levels
    return required_level(client_min_level, requested, essential, voluntary)


def _with_params(uri: str, params: dict[str, str]) -> str:
    separator = "&" if "?" in uri else "?"
    return uri + separator + urlencode(params)


class AuthorizationFlow:
    def __init__(self, server: IdentityAuthorizationServer) -> None:
        self.server = server
        self.settings = server.settings
        self.acr = AcrValues(server.settings.acr_level1, server.settings.acr_level2)
        self.audit = AuditTrail(server.engine)
        self.consents = Consents(server.engine)

    def error_location(self, redirect_uri: str, error: str, description: str | None, state: str | None) -> str:
        params = {"error": error}
        if description:
            params["error_description"] = description
        if state:
            params["state"] = state
        params["iss"] = self.settings.issuer  # RFC 9207
        return _with_params(redirect_uri, params)

    def validate(self, request: HttpRequest, pushed: bool = False) -> Pending | ErrorRedirect | ErrorPage:
        """Validate with authlib; blocking (client lookup): run it in the threadpool.

        ``pushed`` says the parameters came from a PAR ``request_uri`` (RFC 9126).
        """
        result = self.check(request, pushed)
        if isinstance(result, Pending):
            return result
        if result.redirect_uri:
            mode = dict(request.query).get("response_mode", "query")
            return ErrorRedirect(self.error_location(result.redirect_uri, result.error, result.description,
                                                     result.state), result.redirect_uri,
                                 mode if mode in RESPONSE_MODES else "query")
        key = "error.unknown_client" if result.error == "invalid_client" else "error.redirect_uri"
        return ErrorPage(key, result.description)

    def check(self, request: HttpRequest, pushed: bool = False) -> Pending | AuthorizationError:
        params = dict(request.query[::-1])
        state = params.get("state")
        oauth_request = self.server.create_oauth2_request(request)
        try:
            grant = self.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return AuthorizationError(error.error, error.description or error.error, error.redirect_uri, state)
        except ValueError:
            # authlib refuses to build an error whose description would echo characters such as '"'
            # from the request (RFC 6749 §5.2 charset); such a request is malformed, and not redirected.
            return AuthorizationError("invalid_request", "The request contains malformed parameters.", None, state)
        redirect_uri: str = grant.redirect_uri
        client: OAuthClient = grant.request.client

        def refuse(error: str, description: str) -> AuthorizationError:
            return AuthorizationError(error, description, redirect_uri, state)

        if "request" in params:
            return refuse("request_not_supported", "Request objects are not supported; use PAR.")
        if client.row.require_par and not pushed:
            return refuse("invalid_request", "This client must use pushed authorization requests (RFC 9126).")
        scope = grant.request.scope or ""
        if "openid" not in scope.split():
            return refuse("invalid_scope", "The 'openid' scope is required.")
        prompts = frozenset((params.get("prompt") or "").split())
        if not prompts <= SUPPORTED_PROMPTS or ("none" in prompts and len(prompts) > 1):
            return refuse("invalid_request", "Unsupported 'prompt' value.")
        if params.get("response_mode", "query") not in RESPONSE_MODES:
            return refuse("invalid_request", "Unsupported 'response_mode'.")
        query = request.query
        claims: ClaimsRequest | None = None
        if params.get("claims"):
            try:
                claims = parse_claims_request(params["claims"])
            except ValueError as exc:
                return refuse("invalid_request", str(exc))
            granted = set(scope.split()) | (claims.scopes & set(client.row.allowed_scopes.split()))
            scope = " ".join(sorted(granted))
            query = [(k, scope if k == "scope" else v) for k, v in request.query]
        try:
            requirement = level_requirement(self.acr, client.row.min_level, params.get("acr_values"), claims)
        except UnmetRequirement as exc:
            # OIDC Core §3.1.2.6 (errata set 2): the OP cannot meet the requested authentication.
            return refuse("unmet_authentication_requirements", str(exc))
        max_age: int | None = None
        if params.get("max_age") is not None:
            try:
                max_age = int(params["max_age"])
                if max_age < 0:
                    raise ValueError
            except ValueError:
                return refuse("invalid_request", "'max_age' must be a non-negative integer.")
        return Pending(
            id=secrets.token_urlsafe(24),
            query=query,
            client_id=client.client_id,
            client_name=client.row.name,
            scope=scope,
            redirect_uri=redirect_uri,
            state=state,
            prompts=prompts,
            max_age=max_age,
            login_hint=params.get("login_hint"),
            ui_locales=params.get("ui_locales"),
            response_mode=params.get("response_mode", "query"),
            min_level=requirement.minimum,
            preferred_level=requirement.preferred,
        )

    def hint_names(self, id_token_hint: str, pending: Pending, account_id: str) -> bool:
        """Whether an ID token we issued to this client (expired or not) names ``account_id``."""
        claims = self.server.issuer.verify_id_token_hint(id_token_hint, pending.client_id)
        client = self.server.query_client(pending.client_id)
        if claims is None or client is None:
            return False
        return bool(claims.get("sub") == self.server.issuer.subject(client.row, account_id))

    def park(self, pending: Pending) -> None:
        data: dict[str, Any] = {
            "query": [list(pair) for pair in pending.query],
            "client_id": pending.client_id,
            "client_name": pending.client_name,
            "scope": pending.scope,
            "redirect_uri": pending.redirect_uri,
            "state": pending.state,
            "prompts": sorted(pending.prompts),
            "max_age": pending.max_age,
            "login_hint": pending.login_hint,
            "ui_locales": pending.ui_locales,
            "fresh_login": pending.fresh_login,
            "response_mode": pending.response_mode,
            "min_level": pending.min_level,
            "preferred_level": pending.preferred_level,
            "consent_sid": pending.consent_sid,
            "account_display": pending.account_display,
        }
        self.server.store.put(_PENDING, pending.id, data, self.settings.login_request_ttl)

    def resume(self, pending_id: str) -> Pending | None:
        key = self.pending_key(pending_id)
        return self.pending_from(pending_id, self.server.store.get(*key)) if key else None

    @staticmethod
    def pending_key(pending_id: str) -> tuple[str, str] | None:
        """The store key of parked request ``pending_id``, if it can name one, so a page can read it
        together with other state (:meth:`pending_from`)."""
        if not pending_id or len(pending_id) > 64:
            return None
        return _PENDING, pending_id

    @staticmethod
    def pending_from(pending_id: str, data: dict[str, Any] | None) -> Pending | None:
        """The parked request ``pending_id`` from its stored record (None: absent or expired)."""
        if data is None:
            return None
        return Pending(
            id=pending_id,
            query=[(k, v) for k, v in data["query"]],
            client_id=data["client_id"],
            client_name=data["client_name"],
            scope=data["scope"],
            redirect_uri=data["redirect_uri"],
            state=data["state"],
            prompts=frozenset(data["prompts"]),
            max_age=data["max_age"],
            login_hint=data["login_hint"],
            ui_locales=data["ui_locales"],
            fresh_login=data["fresh_login"],
            response_mode=data["response_mode"],
            min_level=int(data.get("min_level", 1)),
            preferred_level=int(data.get("preferred_level", 1)),
            consent_sid=data.get("consent_sid"),
            account_display=data.get("account_display"),
        )

    def clear_for_consent(self, pending: Pending, sid: str, account_display: str | None = None) -> None:
        """Every check before consent passed for browser session ``sid`` (whose account shows as
        ``account_display``, when the caller knows it)."""
        self.park(replace(pending, consent_sid=sid, account_display=account_display))

    def finish(self, pending_id: str) -> None:
        self.server.store.delete(_PENDING, pending_id)

    def has_consent(self, account_id: str, client_id: str, scopes: list[str]) -> bool:
        return self.consents.covers(account_id, client_id, scopes)

    def issue_code(self, pending: Pending, ctx: AuthContext, consented: bool = False) -> str:
        """Re-validate the parked request with authlib and return the redirect with a code.

        ``consented``: the citizen has just approved the request's scopes on the consent page; the
        consent is recorded in the same transaction as the code's audit event (the code, already in
        the ephemeral store, reaches no one if that transaction fails: this returns no location).

        Raises :class:`UnmetRequirement` if the authentication is below the request's minimum level:
        whatever path led here, a code never carries less than the client asked for.
        """
        if (self.acr.level_of(ctx.acr) or 0) < pending.min_level:
            raise UnmetRequirement("the authentication does not reach the requested level")
        request = HttpRequest(method="GET", url=f"{self.settings.issuer}/authorize", headers=Headers(),
                              query=pending.query)
        # The client, redirect URI, scopes and PKCE challenge are checked again (the registration may
        # have changed since the request was parked), once: get_consent_grant validates and raises;
        # authlib's create_authorization_response would run the same validation a second time.
        grant = self.server.get_consent_grant(self.server.create_oauth2_request(request))
        response = self.server.handle_response(*grant.create_authorization_response(grant.redirect_uri,
                                                                                    AuthorizedUser(ctx)))
        grant.execute_hook("after_authorization_response", response)
        location = response.headers.get("location")
        if not location:
            raise RuntimeError("authorization response without a redirect")
        remember_client(self.server.store, ctx.sid, pending.client_id, self.settings.session_ttl)
        # The access history (identity/access_history.py) reads the released claim names from here:
        # recorded once per authorization, not per token, so the token endpoint writes nothing more.
        details: dict[str, Any] = {"scopes": pending.scopes, "claims": claims_released_by(pending.scopes)}
        if consented:
            with self.server.engine.begin() as connection:
                granted = grant_consent(connection, ctx.account_id, pending.client_id, pending.scopes)
                insert_events(connection, [granted, event_row("authorization.code_issued", ctx.account_id,
                                                              pending.client_id, **details)])
        else:
            self.audit.append("authorization.code_issued", ctx.account_id, pending.client_id, **details)
        self.finish(pending.id)
        return _with_params(location, {"iss": self.settings.issuer})
