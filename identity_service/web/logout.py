"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the account page's logout.

A ``post_logout_redirect_uri`` is followed only when it is registered, exactly, for the client the
request names. Without a valid ``id_token_hint`` for the current citizen the logout is confirmed
on a page first (a cross-site link must not log people out).

Handlers are plain ``def`` (one threadpool hop per request, as in ``web/authorize.py``); the
parameters are read on the loop first (:func:`logout_params`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from identity_service.identity.audit import record_event
from identity_service.oidc.logout import LogoutDelivery, clients_of_session
from identity_service.services import Services
from identity_service.storage.database import session_scope
from identity_service.web.pages import csrf_ok, error_page, render, services_of
from identity_service.web.sessions import BrowserSession

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


def end_browser_session(services: Services, session: BrowserSession, event: str = "logout") -> list[LogoutDelivery]:
    """End the session everywhere: store, refresh tokens from it, and the clients it signed in to.

    ``event`` names the audit event (``logout``, or why the account centre ended it)."""
    services.sessions.end(session.sid)
    services.oauth.refresh_tokens.revoke_session(session.sid, session.account_id)
    deliveries = []
    for client_id in clients_of_session(services.store, session.sid):
        client = services.oauth.query_client(client_id)
        if client is None or not client.row.backchannel_logout_uri:
            continue
        token = services.backchannel.logout_token(client.row, services.issuer.subject(client.row, session.account_id),
                                                  session.sid)
        deliveries.append(LogoutDelivery(client_id, client.row.backchannel_logout_uri, token))
    with session_scope(services.engine) as db:
        record_event(db, event, account_id=session.account_id, clients=[d.client_id for d in deliveries])
    return deliveries


def _resolve(services: Services, params: dict[str, str]) -> tuple[str | None, str | None, dict[str, object] | None]:
    """(client_id, redirect target or None, verified hint claims) — or raises ValueError."""
    client_id = params.get("client_id")
    hint_claims = None
    if params.get("id_token_hint"):
        claims = services.issuer.verify_id_token_hint(params["id_token_hint"], None)
        if claims is None:
            raise ValueError("id_token_hint is not an ID token this provider issued")
        audience = claims.get("aud")
        hinted = audience if isinstance(audience, str) else (audience or [None])[0]
        if client_id and client_id != hinted:
            raise ValueError("client_id does not match the id_token_hint")
        client_id, hint_claims = hinted, claims
    target = params.get("post_logout_redirect_uri")
    if target:
        client = services.oauth.query_client(client_id or "")
        if client is None or target not in client.row.post_logout_redirect_uris:
            raise ValueError("post_logout_redirect_uri is not registered for this client")
    return client_id, target, hint_claims


def deliver_after_response(background: BackgroundTasks, services: Services,
                           deliveries: list[LogoutDelivery] | None) -> None:
    """Send back-channel logout tokens once the response is out: the browser never waits on a client."""
    if deliveries:
        background.add_task(services.backchannel.deliver, deliveries)


def _finish(request: Request, services: Services, background: BackgroundTasks, target: str | None,
            state: str | None) -> Response:
    session = services.sessions.current(request)
    if session is not None:
        deliver_after_response(background, services, end_browser_session(services, session))
    if target:
        response: Response = RedirectResponse(target + ("&" if "?" in target else "?")
                                              + urlencode({"state": state}) if state else target, status_code=303)
    else:
        response = render(request, "logged_out.html", {})
    services.sessions.clear_cookie(response)
    return response


async def logout_params(request: Request) -> dict[str, str]:
    """The logout request's parameters: the query, or the form body of a POST."""
    source = await request.form() if request.method == "POST" else request.query_params
    return {k: str(source[k]) for k in _PARAMS if k in source and isinstance(source[k], str)}


@router.api_route("/end_session", methods=["GET", "POST"])
def end_session(request: Request, background: BackgroundTasks,
                params: dict[str, str] = Depends(logout_params)) -> Response:
    services = services_of(request)
    try:
        client_id, target, hint = _resolve(services, params)
    except ValueError as exc:
        log.info("end_session refused: %s", exc)
        return error_page(request, "error.logout_request", 400)
    session = services.sessions.current(request)
    if session is None:
        return _finish(request, services, background, target, params.get("state"))
    client = services.oauth.query_client(client_id) if client_id else None
    hint_is_this_user = hint is not None and client is not None and \
        hint.get("sub") == services.issuer.subject(client.row, session.account_id)
    if hint_is_this_user:
        return _finish(request, services, background, target, params.get("state"))
    return render(request, "logout_confirm.html", {"params": params,
                                                   "client_name": client.row.name if client else None})


@router.post("/end_session/confirm")
def end_session_confirm(request: Request, background: BackgroundTasks, csrf_token: str = Form(""),
                        params: dict[str, str] = Depends(logout_params)) -> Response:
    services = services_of(request)
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    try:
        _, target, _ = _resolve(services, params)
    except ValueError:
        return error_page(request, "error.logout_request", 400)
    return _finish(request, services, background, target, params.get("state"))


@router.post("/logout")
def logout(request: Request, background: BackgroundTasks, csrf_token: str = Form("")) -> Response:
    """The account page's own logout button."""
    services = services_of(request)
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    return _finish(request, services, background, None, None)
