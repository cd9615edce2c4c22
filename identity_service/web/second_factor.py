"""Level-2 logins in the browser: the second-factor step (and step-up), and the page for level-1 accounts.

The authorization flow (``web/authorize.py``) sends the browser here when a request needs level 2:
- ``/login/second-factor?req=…`` when the account holds level 2 but this session has no second factor
  yet (right after the password, or a level-1 session being stepped up: no password is asked again);
- ``/login/level-required?req=…`` when the account holds only level 1: the page explains how to get
  level 2, and its button returns ``unmet_authentication_requirements`` to the client.

Handlers are plain ``def`` (one threadpool hop per request, as in ``web/authorize.py``).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import Response

from identity_service.identity.audit import record_event
from identity_service.identity.levels import LEVEL2
from identity_service.identity.otp import OtpError
from identity_service.identity.second_factors import (
    METHODS,
    FactorStatus,
    Method,
    SecondFactorError,
    SecondFactorLockout,
)
from identity_service.identity.sms import SmsUnavailable, mask_phone
from identity_service.oidc.authorization import Pending
from identity_service.oidc.logout import move_session_clients
from identity_service.security.rate_limits import RateLimited, client_ip
from identity_service.services import Services
from identity_service.storage.database import session_scope
from identity_service.web.authorize import flow_of, pending_and_session, see_other, to_client
from identity_service.web.i18n import translator
from identity_service.web.logout import deliver_after_response
from identity_service.web.pages import csrf_ok, error_page, locale_of, render, retry_later, services_of
from identity_service.web.sessions import BrowserSession

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def elevate_session(services: Services, session: BrowserSession, method: Method, account_level: int,
                    client_id: str | None) -> BrowserSession:
    """Step the session up to level 2 after ``method`` was verified (new id, acr, amr, auth_time).
    Blocking (store and database): call it from a worker thread."""
    elevated = services.sessions.elevate(session, services.acr.acr_for(LEVEL2), method.amr, account_level)
    # Logout of the renewed session must still reach what the earlier id signed in to.
    move_session_clients(services.store, session.sid, elevated.sid, services.settings.session_ttl)
    services.oauth.refresh_tokens.move_session(session.sid, elevated.sid)
    with session_scope(services.engine) as db:
        record_event(db, "session.stepped_up", account_id=session.account_id, client_id=client_id,
                     method=method.name, acr=elevated.acr, amr=list(elevated.amr))
    return elevated


def _resume_form(request: Request, csrf_token: str, req: str) -> tuple[Pending, BrowserSession] | Response:
    """For a form post: the pending request and this browser's session, or the response to return
    (bad CSRF token, an expired request, or no session yet: the password comes first)."""
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    pending, session = pending_and_session(request, req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    if session is None:
        return see_other(f"/login?req={pending.id}")
    return pending, session


def _second_factor_page(request: Request, pending: Pending, session: BrowserSession, error: str | None = None,
                        status_code: int = 200, sms_sent: bool = False) -> Response:
    services = services_of(request)
    status: FactorStatus = services.second_factors.status(session.account_id)
    subject = services.accounts.load_subject(session.account_id)
    phone = mask_phone(subject.account.phone) if subject is not None else ""
    return render(request, "second_factor.html", {
        "req": pending.id, "client_name": pending.client_name, "has_totp": status.has_totp,
        "has_recovery_codes": status.recovery_codes_left > 0, "phone_masked": phone, "sms_sent": sms_sent,
        "error": error,
    }, status_code, ui_locales=pending.ui_locales, redirect_target=pending.redirect_uri)


@router.get("/login/second-factor")
def second_factor_page(request: Request, req: str = "", sent: str = "") -> Response:
    pending, session = pending_and_session(request, req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    if session is None:
        return see_other(f"/login?req={pending.id}")
    return _second_factor_page(request, pending, session, sms_sent=sent == "sms")


@router.post("/login/second-factor/sms")
def send_sms_code(request: Request, csrf_token: str = Form(""), req: str = Form("", max_length=100)) -> Response:
    resumed = _resume_form(request, csrf_token, req)
    if isinstance(resumed, Response):
        return resumed
    pending, session = resumed
    services = services_of(request)
    subject = services.accounts.load_subject(session.account_id)
    reached = services.acr.level_of(session.acr) or 0
    if (subject is None or subject.account.level < LEVEL2 or subject.account.status != "active"
            or reached >= pending.preferred_level):
        # No text message unless this request needs a second factor that this account can give.
        return see_other(f"/authorize/resume?req={pending.id}")
    t = translator(locale_of(request, pending.ui_locales))
    try:
        services.second_factors.send_sms_code(session.account_id, subject.account.phone)
    except RateLimited as exc:
        return retry_later(_second_factor_page(request, pending, session, t("error.rate_limited"), 429), exc)
    except (OtpError, SmsUnavailable) as exc:
        return _second_factor_page(request, pending, session, t(f"error.{exc.code}"), 400)
    return see_other(f"/login/second-factor?req={pending.id}&sent=sms")


@router.post("/login/second-factor")
def second_factor_submit(
    request: Request,
    background: BackgroundTasks,
    csrf_token: str = Form(""),
    req: str = Form("", max_length=100),
    method: str = Form("", max_length=16),
    code: str = Form("", max_length=32),
) -> Response:
    resumed = _resume_form(request, csrf_token, req)
    if isinstance(resumed, Response):
        return resumed
    pending, session = resumed
    services = services_of(request)
    chosen = METHODS.get(method)
    subject = services.accounts.load_subject(session.account_id)
    if chosen is None or subject is None or subject.account.level < LEVEL2 or subject.account.status != "active":
        # Only a level-2 account can be elevated; the flow shows the level-1 page otherwise.
        return see_other(f"/authorize/resume?req={pending.id}")
    t = translator(locale_of(request, pending.ui_locales))
    try:
        services.second_factors.verify(session.account_id, chosen, code, pending.client_id, client_ip(request))
    except RateLimited as exc:
        return retry_later(_second_factor_page(request, pending, session, t("error.rate_limited"), 429), exc)
    except SecondFactorLockout as exc:
        # The last allowed guess: the account is locked; every session and token of it ends now.
        deliver_after_response(background, services, services.account_access.end(session.account_id, "account_locked"))
        page = error_page(request, f"error.{exc.code}", 403)
        services.sessions.clear_cookie(page)
        return page
    except SecondFactorError as exc:
        return _second_factor_page(request, pending, session, t(f"error.{exc.code}"), 401,
                                   sms_sent=chosen.name == "sms")
    elevated = elevate_session(services, session, chosen, subject.account.level, pending.client_id)
    response = see_other(f"/authorize/resume?req={pending.id}")
    services.sessions.set_cookie(response, elevated)
    return response


@router.get("/login/level-required")
def level_required_page(request: Request, req: str = "") -> Response:
    pending = flow_of(request).resume(req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    return render(request, "level_required.html", {"req": pending.id, "client_name": pending.client_name},
                  403, ui_locales=pending.ui_locales, redirect_target=pending.redirect_uri)


@router.post("/login/level-required")
def level_required_return(request: Request, csrf_token: str = Form(""),
                          req: str = Form("", max_length=100)) -> Response:
    """Back to the client with OIDC Core §3.1.2.6 ``unmet_authentication_requirements``: never a code."""
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    flow = flow_of(request)
    pending = flow.resume(req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    flow.finish(pending.id)
    location = flow.error_location(pending.redirect_uri, "unmet_authentication_requirements",
                                   "The account does not hold the requested identity level.", pending.state)
    return to_client(request, location, pending.redirect_uri, pending.response_mode)
