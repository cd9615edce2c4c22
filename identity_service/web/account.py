"""The citizen's account centre: the profile page, and the sign-in check every /account page uses.

The other account-centre pages live next to it: ``account_sessions`` (devices),
``account_services`` (connected services and access history), ``account_password`` (password and
the citizen's own lock). Second factors are managed at ``/account/security`` (another module).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from identity_service.oidc.tokens import TokenSubject
from identity_service.web.formatting import local_date, local_time, mask_cccd, mask_phone
from identity_service.web.pages import csrf_ok, error_page, render, services_of
from identity_service.web.sessions import BrowserSession

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class SignedIn:
    """The browser session of an /account request and the active account behind it."""

    session: BrowserSession
    subject: TokenSubject


def signed_in(request: Request) -> SignedIn | None:
    """The signed-in citizen, or None (no session, or the account is no longer active)."""
    services = services_of(request)
    session = services.sessions.current(request)
    if session is None:
        return None
    subject = services.accounts.load_subject(session.account_id)
    if subject is None or subject.account.status != "active":
        return None
    return SignedIn(session, subject)


def signed_in_form(request: Request, csrf_token: str) -> SignedIn | Response:
    """For a form post: the signed-in citizen, or the response to return instead (a bad CSRF token is
    refused first, 403; then no session or an inactive account goes to the login page)."""
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    me = signed_in(request)
    if me is None:
        return to_login()
    return me


def to_login() -> Response:
    return RedirectResponse("/login", status_code=303)


def see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/account", status_code=303)


@router.get("/account")
def account_page(request: Request) -> Response:
    me = signed_in(request)
    if me is None:
        return to_login()
    account, citizen = me.subject.account, me.subject.citizen
    return render(request, "account.html", {
        "account_display": mask_cccd(account.cccd),
        "level": account.level,
        "full_name": citizen.full_name,
        "birth_date": local_date(citizen.birth_date),
        "phone_masked": mask_phone(account.phone),
        "level_verified_at": local_time(account.level_verified_at) if account.level_verified_at else None,
        "notice": request.query_params.get("done") if request.query_params.get("done") in _NOTICES else None,
    })


# Short confirmations shown after an action redirects back to the profile page.
_NOTICES = ("password_changed",)
