"""The citizen's account page (minimal for now) and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from identity_service.web.pages import render, services_of

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
