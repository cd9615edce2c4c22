"""Account centre: changing the password, and locking the account at the citizen's request."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import Response

from identity_service.identity.citizen_lock import lock_at_citizen_request
from identity_service.identity.password_change import PasswordChangeRefused, change_password
from identity_service.security.rate_limits import PASSWORD_CHANGE_PER_ACCOUNT, RateLimited
from identity_service.web.account import see_other, signed_in, signed_in_form, to_login
from identity_service.web.account_actions import end_other_sessions
from identity_service.web.i18n import translator
from identity_service.web.logout import deliver_after_response
from identity_service.web.pages import locale_of, render, retry_later, services_of

router = APIRouter(include_in_schema=False)


@router.get("/account/password")
def password_page(request: Request) -> Response:
    if signed_in(request) is None:
        return to_login()
    return render(request, "account_password.html", {"errors": []})


@router.post("/account/password")
def password_submit(request: Request, background: BackgroundTasks, csrf_token: str = Form(""),
                    current_password: str = Form("", max_length=1024),
                    new_password: str = Form("", max_length=1024),
                    new_password_confirm: str = Form("", max_length=1024)) -> Response:
    """Current password first; the new one follows the enrollment policy; other sessions end."""
    me = signed_in_form(request, csrf_token)
    if isinstance(me, Response):
        return me
    services = services_of(request)
    t = translator(locale_of(request))
    try:
        services.limiter.hit(PASSWORD_CHANGE_PER_ACCOUNT, me.session.account_id)
        change_password(services.engine, services.hasher, me.session.account_id,
                        current_password, new_password, new_password_confirm)
    except RateLimited as exc:
        return retry_later(render(request, "account_password.html", {"errors": [t("error.rate_limited")]}, 429), exc)
    except PasswordChangeRefused as exc:
        return render(request, "account_password.html", {"errors": [t(f"error.{c}") for c in exc.codes]}, 400)
    # NIST SP 800-63B §7.1 / OWASP: a new password ends the sessions an attacker may hold.
    deliveries = end_other_sessions(services, me.session, "session.ended_password_changed")
    # ...and every refresh token not of this session, including those whose browser session is long gone.
    services.account_access.revoke_refresh_families(me.session.account_id, "password_changed", me.session.sid)
    deliver_after_response(background, services, deliveries)
    return see_other("/account?done=password_changed")


@router.get("/account/lock")
def lock_page(request: Request) -> Response:
    if signed_in(request) is None:
        return to_login()
    return render(request, "account_lock.html", {})


@router.post("/account/lock")
def lock_submit(request: Request, background: BackgroundTasks, csrf_token: str = Form(""),
                confirm: str = Form("", max_length=10)) -> Response:
    """Lock now (a lost phone): every session ends, tokens stop working, the login page says how to unlock."""
    me = signed_in_form(request, csrf_token)
    if isinstance(me, Response):
        return me
    if confirm != "yes":
        return see_other("/account")
    services = services_of(request)
    # Every session ends and every client it signed in to is told (back-channel logout), as for a desk lock.
    deliveries = lock_at_citizen_request(services.account_access, me.session.account_id)
    deliver_after_response(background, services, deliveries)
    response = render(request, "account_locked.html", {})
    services.sessions.clear_cookie(response)
    return response
