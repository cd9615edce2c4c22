"""Account centre: connected services (withdrawable consents) and the access history."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import Response

from identity_service.identity.access_history import Cursor, history_page
from identity_service.identity.connected_services import connected_service, connected_services, withdraw_consent
from identity_service.web.account import see_other, signed_in, signed_in_form, to_login
from identity_service.web.account_actions import complete_withdrawal
from identity_service.web.formatting import local_time
from identity_service.web.logout import deliver_after_response
from identity_service.web.pages import render, services_of

router = APIRouter(include_in_schema=False)
_NOTICES = ("consent_withdrawn",)


@router.get("/account/services")
def services_page(request: Request) -> Response:
    me = signed_in(request)
    if me is None:
        return to_login()
    services = services_of(request)
    connected = connected_services(services.engine, me.session.account_id)
    done = request.query_params.get("done")
    return render(request, "account_services.html", {
        "connected": [{"client_id": c.client_id, "name": c.client_name, "scopes": list(c.scopes),
                       "granted": local_time(c.granted_at)} for c in connected],
        "notice": done if done in _NOTICES else None,
    })


@router.get("/account/services/withdraw")
def withdraw_confirm_page(request: Request, client_id: str = "") -> Response:
    """Withdrawal is confirmed on a page of its own (no script: CSP forbids it)."""
    me = signed_in(request)
    if me is None:
        return to_login()
    services = services_of(request)
    service = connected_service(services.engine, me.session.account_id, client_id[:100])
    if service is None:
        return see_other("/account/services")
    return render(request, "account_withdraw.html", {
        "client_id": service.client_id, "name": service.client_name, "scopes": list(service.scopes),
    })


@router.post("/account/services/withdraw")
def withdraw(request: Request, background: BackgroundTasks, csrf_token: str = Form(""),
             client_id: str = Form("", max_length=100), confirm: str = Form("", max_length=10)) -> Response:
    me = signed_in_form(request, csrf_token)
    if isinstance(me, Response):
        return me
    if confirm != "yes":
        return see_other("/account/services")
    services = services_of(request)
    account_id = me.session.account_id
    withdrawal = withdraw_consent(services.engine, account_id, client_id)
    if withdrawal is None:
        return see_other("/account/services")
    deliveries = complete_withdrawal(services, account_id, withdrawal)
    deliver_after_response(background, services, deliveries)
    return see_other("/account/services?done=consent_withdrawn")


@router.get("/account/history")
def history(request: Request, before: str = "", after: str = "") -> Response:
    """Newest first, 20 a page; ``before``/``after`` are opaque cursors from the page's own links."""
    me = signed_in(request)
    if me is None:
        return to_login()
    services = services_of(request)
    page = history_page(services.engine, me.session.account_id,
                        Cursor.decode(before), Cursor.decode(after))
    if not page.entries and (before or after):
        return see_other("/account/history")  # a stale or forged cursor: start from the newest
    return render(request, "account_history.html", {
        "entries": [{"at": local_time(e.at), "event": e.event, "service": e.client_name or e.client_id or "",
                     "scopes": list(e.scopes), "claims": list(e.claims)} for e in page.entries],
        "older": page.older, "newer": page.newer,
    })
