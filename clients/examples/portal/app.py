"""The public service portal (FastAPI).

- Browsing needs a level-1 login; the session remembers the provider's ``sid`` and the ID token.
- Submitting a dossier needs level 2: the portal keeps the draft and sends the browser on a new
  authorization request with ``acr_values=urn:eid:vn:level2`` (step-up); the callback verifies
  the ID token with ``level=2`` before it submits.
- Logout is RP-initiated (``end_session_endpoint`` with ``id_token_hint`` and
  ``post_logout_redirect_uri``); back-channel logout from the provider ends the portal session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Form, Request
from identity_client import Identity, IdentityError, InsufficientLevel
from identity_client.login import LoginError, LoginHelper, LoginState, Tokens
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from clients.examples.config import RelyingPartyConfig
from clients.examples.portal.backchannel import InvalidLogoutToken, LogoutRequest, LogoutTokenVerifier
from clients.examples.portal.catalogue import SERVICES, SERVICES_BY_SLUG, DossierBook
from clients.examples.provider_errors import explain_login_error
from clients.examples.rp_app import RelyingPartyApp, example_templates
from clients.examples.web_sessions import SessionStore, WebSession

log = logging.getLogger(__name__)
LEVEL2_ACR = "urn:eid:vn:level2"
SCOPE = "openid profile citizen_id"
_TEMPLATES = example_templates(Path(__file__).parent / "templates", home_name="portal")


class Portal(RelyingPartyApp):
    """Wiring: login helper, sessions, dossiers, logout-token verifier."""

    def __init__(self, config: RelyingPartyConfig, on_backchannel_logout: Callable[[LogoutRequest, int], None]
                 | None = None) -> None:
        super().__init__(LoginHelper(config.issuer, config.client_id, config.redirect_uri,
                                     client_secret=config.client_secret, scope=SCOPE),
                         SessionStore("portal_session"), _TEMPLATES)
        self.config = config
        self.dossiers = DossierBook()
        self.logout_tokens = LogoutTokenVerifier(config.issuer, config.client_id,
                                                 lambda: str(self.login.verifier.discover()["jwks_uri"]))
        self.on_backchannel_logout = on_backchannel_logout


    def sign_in(self, session: WebSession, tokens: Tokens, identity: Identity) -> None:
        session.data["user"] = {"subject": identity.subject, "citizen_id": identity.citizen_id,
                                "name": identity.name, "level": identity.level or 0,
                                "sid": identity.claims.get("sid"), "id_token": tokens.id_token}

    def end_sessions(self, request: LogoutRequest) -> int:
        def matches(session: WebSession) -> bool:
            user = session.data.get("user") or {}
            if request.sid is not None:
                return bool(user.get("sid") == request.sid)
            return bool(user.get("subject") == request.sub)

        return self.sessions.end_where(matches)


def create_app(config: RelyingPartyConfig,
               on_backchannel_logout: Callable[[LogoutRequest, int], None] | None = None) -> FastAPI:
    """The portal for ``config``'s client; ``on_backchannel_logout(request, ended)`` observes logouts."""
    portal = Portal(config, on_backchannel_logout)
    app = FastAPI(title="Public service portal (example)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = portal

    @app.get("/")
    def home(request: Request) -> Response:
        session = portal.sessions.load(request)
        if "user" not in session.data:
            return portal.page(request, session, "login.html")
        return portal.page(request, session, "services.html", user=session.data["user"], services=SERVICES)

    @app.get("/login")
    def login(request: Request) -> Response:
        return portal.start_login(portal.sessions.load(request), "login")

    @app.get("/services/{slug}")
    def service(request: Request, slug: str) -> Response:
        session = portal.sessions.load(request)
        if "user" not in session.data:
            return portal.redirect(session, "/")
        if slug not in SERVICES_BY_SLUG:
            return portal.page(request, session, "message.html", 404, title="No such service", message=slug)
        return portal.page(request, session, "service.html", user=session.data["user"],
                           service=SERVICES_BY_SLUG[slug])

    @app.post("/dossiers")
    def submit_dossier(request: Request, csrf_token: str = Form(""), service: str = Form(""),
                       details: str = Form("", max_length=2000)) -> Response:
        session = portal.sessions.load(request)
        user = session.data.get("user")
        if user is None or not session.csrf_ok(csrf_token) or service not in SERVICES_BY_SLUG:
            return portal.page(request, session, "message.html", 403, title="Please log in again",
                               message="Your portal session has ended or the form is stale.")
        if user["level"] >= 2:
            return _submit(session, service, details)
        # Step-up: keep the draft, ask the provider for a level-2 login of the same citizen.
        session.data["draft"] = {"service": service, "details": details}
        return portal.start_login(session, "step-up", acr_values=LEVEL2_ACR)

    def _submit(session: WebSession, slug: str, details: str) -> Response:
        user = session.data["user"]
        dossier = portal.dossiers.submit(SERVICES_BY_SLUG[slug], user["citizen_id"], user["subject"], details,
                                         user["level"])
        return portal.redirect(session, f"/dossiers/{dossier.reference}")

    @app.get("/dossiers/{reference}")
    def dossier(request: Request, reference: str) -> Response:
        session = portal.sessions.load(request)
        user = session.data.get("user")
        found = portal.dossiers.get(reference, user["subject"]) if user else None
        if found is None:
            return portal.redirect(session, "/")
        return portal.page(request, session, "dossier.html", user=user, dossier=found)

    @app.get("/callback")
    def callback(request: Request) -> Response:
        session = portal.sessions.load(request)
        pending: tuple[str, LoginState] | None = session.data.pop("pending_login", None)
        if pending is None:
            return portal.page(request, session, "message.html", 400, title="No login in progress",
                               message="This answer from the identity provider does not belong to a login "
                                       "started here.")
        purpose, state = pending
        required = 2 if purpose == "step-up" else None
        try:
            tokens = portal.login.handle_callback(str(request.url), state)
            assert tokens.id_token is not None
            identity = portal.login.verifier.verify_id_token(tokens.id_token, nonce=state.nonce, level=required)
        except InsufficientLevel as exc:
            session.data.pop("draft", None)
            return portal.page(request, session, "level_refused.html", 403, actual=exc.actual)
        except LoginError as exc:
            title, message = explain_login_error(exc.error, exc.description)
            if session.data.pop("draft", None) is not None:
                message += " Your dossier was not submitted."
            return portal.page(request, session, "message.html", 403, title=title, message=message)
        except IdentityError as exc:
            return portal.page(request, session, "message.html", 502, title="Login could not be checked",
                               message=f"The identity provider's answer was not accepted ({type(exc).__name__}).")
        previous = session.data.get("user")
        if purpose == "step-up" and previous is not None and previous["subject"] != identity.subject:
            session.data.pop("draft", None)  # someone else logged in: the draft is not theirs
            return portal.page(request, session, "message.html", 403, title="Different account",
                               message="The level-2 login was for another citizen; the dossier was not sent.")
        portal.sign_in(session, tokens, identity)
        draft = session.data.pop("draft", None)
        if purpose == "step-up" and draft is not None:
            return _submit(session, draft["service"], draft["details"])
        return portal.redirect(session, "/")

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        session = portal.sessions.load(request)
        user = session.data.get("user")
        if user is None or not session.csrf_ok(csrf_token):
            return portal.redirect(session, "/")
        location = portal.login.logout_url(user["id_token"],
                                           post_logout_redirect_uri=f"{config.base_url}/logged-out")
        response = RedirectResponse(location, status_code=303)
        portal.sessions.end(session, response)
        return response

    @app.get("/logged-out")
    def logged_out(request: Request) -> Response:
        session = portal.sessions.load(request)
        return portal.page(request, session, "message.html", title="You have logged out",
                           message="You are logged out of the portal and of your electronic identity account.")

    @app.post("/backchannel-logout")
    def backchannel_logout(logout_token: str = Form("")) -> Response:
        headers = {"Cache-Control": "no-store"}
        try:
            logout_request = portal.logout_tokens.verify(logout_token)
        except InvalidLogoutToken as exc:
            log.info("back-channel logout refused: %s", exc)
            return JSONResponse({"error": "invalid_request"}, status_code=400, headers=headers)
        ended = portal.end_sessions(logout_request)
        if portal.on_backchannel_logout is not None:
            portal.on_backchannel_logout(logout_request, ended)
        return PlainTextResponse("", status_code=200, headers=headers)

    return app
