"""The citizen's account page (minimal for now) and logout."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from identity_service.web.pages import csrf_ok, error_page, render, services_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/account", status_code=303)


@router.get("/account")
async def account_page(request: Request) -> Response:
    services = services_of(request)
    session = services.sessions.current(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    subject = await run_in_threadpool(services.accounts.load_subject, session.account_id)
    if subject is None:
        return RedirectResponse("/login", status_code=303)
    cccd = subject.account.cccd
    return render(request, "account.html", {
        "account_display": f"{cccd[:3]}******{cccd[-3:]}",
        "level": subject.account.level,
    })


@router.post("/logout")
async def logout(request: Request, csrf_token: str = Form("")) -> Response:
    services = services_of(request)
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    session = services.sessions.current(request)
    if session is not None:
        await run_in_threadpool(services.sessions.end, session.sid)
    response = RedirectResponse("/login", status_code=303)
    services.sessions.clear_cookie(response)
    return response
