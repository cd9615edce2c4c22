"""Account centre: the citizen's active sessions (devices), and logging one of them out."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import Response

from identity_service.web.account import see_other, signed_in, signed_in_form, to_login
from identity_service.web.account_actions import end_device_session, session_handle
from identity_service.web.formatting import local_time
from identity_service.web.logout import deliver_after_response
from identity_service.web.pages import render, services_of

router = APIRouter(include_in_schema=False)
_NOTICES = ("session_ended",)


@router.get("/account/sessions")
def sessions_page(request: Request) -> Response:
    me = signed_in(request)
    if me is None:
        return to_login()
    services = services_of(request)
    sessions = services.sessions.of_account(me.session.account_id)
    done = request.query_params.get("done")
    return render(request, "account_sessions.html", {
        "sessions": [{"handle": session_handle(s), "started": local_time(s.auth_time), "browser": s.device[0],
                      "os": s.device[1], "current": s.sid == me.session.sid}
                     for s in reversed(sessions)],  # newest first
        "notice": done if done in _NOTICES else None,
    })


@router.post("/account/sessions/end")
def end_session(request: Request, background: BackgroundTasks, csrf_token: str = Form(""),
                session: str = Form("", max_length=64)) -> Response:
    """Log out another device: its session ends, its refresh tokens are revoked, its clients are told."""
    me = signed_in_form(request, csrf_token)
    if isinstance(me, Response):
        return me
    services = services_of(request)
    if session == session_handle(me.session):
        return see_other("/account/sessions")  # this device logs out with the logout button
    deliveries = end_device_session(services, me.session.account_id, session)
    deliver_after_response(background, services, deliveries)
    return see_other("/account/sessions?done=session_ended" if deliveries is not None else "/account/sessions")
