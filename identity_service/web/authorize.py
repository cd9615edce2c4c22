"""Browser side of the authorization endpoint: login and consent pages around the protocol flow.

Every handler here is a plain ``def``: FastAPI runs it in its threadpool, so all of a request's blocking
work (Redis, SQL, argon2id) happens in one worker-thread hop and never on the event loop. Only
reading the body (``Form`` fields, :func:`authorization_pairs`) is awaited, on the loop, before that.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from identity_service.identity.accounts import AccountLocked, AuthenticationFailed
from identity_service.identity.levels import AMR_PASSWORD, LevelStep, next_level_step
from identity_service.oidc.authorization import AuthorizationFlow, ErrorPage, ErrorRedirect, Pending
from identity_service.oidc.par import take_pushed_request
from identity_service.oidc.server import HttpRequest
from identity_service.oidc.tokens import AuthContext
from identity_service.security.rate_limits import LOGIN_PER_IP, RateLimited, client_ip
from identity_service.web.devices import describe_device
from identity_service.web.formatting import mask_cccd
from identity_service.web.i18n import translator
from identity_service.web.pages import csrf_ok, error_page, form_post_page, locale_of, render, services_of
from identity_service.web.sessions import BrowserSession

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

_MAX_QUERY_PAIRS = 50


def flow_of(request: Request) -> AuthorizationFlow:
    flow: AuthorizationFlow = request.app.state.authorization_flow
    return flow


def to_client(request: Request, location: str, redirect_uri: str, response_mode: str) -> Response:
    """Deliver an authorization response: a redirect, or an auto-posting form (OAuth 2.0 Form Post)."""
    if response_mode != "form_post":
        return see_other(location)
    params = parse_qsl(location[len(redirect_uri) + 1:], keep_blank_values=True)
    return form_post_page(request, redirect_uri, params)


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _next_step(request: Request, pending: Pending, session: BrowserSession | None, parked: bool = False,
               account_display: str | None = None) -> Response:
    """Decide what the browser does next: log in, consent, or go back to the client with a code.

    ``session``: this browser's login session, if any. ``parked``: ``pending`` was just resumed from
    the store, unchanged, so it need not be stored again. ``account_display``: the session's account
    number, masked, when the caller has it (for the consent page).
    """
    flow = flow_of(request)

    def park() -> None:
        if not parked:
            flow.park(pending)

    hint = dict(pending.query).get("id_token_hint")
    needs_login = session is None or (
        not pending.fresh_login
        and ("login" in pending.prompts or (pending.max_age is not None and session.age() > pending.max_age)
             # OIDC Core §3.1.2.1: a hint naming someone else means the current session is not theirs.
             or (hint is not None and not flow.hint_names(hint, pending, session.account_id)))
    )
    if needs_login:
        if "none" in pending.prompts:
            return to_client(request, flow.error_location(pending.redirect_uri, "login_required",
                                                           "The citizen is not logged in.", pending.state),
                              pending.redirect_uri, pending.response_mode)
        park()
        return see_other(f"/login?req={pending.id}")
    assert session is not None
    step = _level_step(request, pending, session)
    if step is LevelStep.UNMET:
        if "none" in pending.prompts:
            return to_client(request, flow.error_location(
                pending.redirect_uri, "unmet_authentication_requirements",
                "The account does not hold the requested identity level.", pending.state),
                pending.redirect_uri, pending.response_mode)
        park()
        return see_other(f"/login/level-required?req={pending.id}")
    if step is LevelStep.SECOND_FACTOR:
        if "none" in pending.prompts:
            # OIDC Core §3.1.2.6: the OP needs the citizen to authenticate (here: a second factor).
            return to_client(request, flow.error_location(pending.redirect_uri, "login_required",
                                                           "A second factor is required.", pending.state),
                              pending.redirect_uri, pending.response_mode)
        park()
        return see_other(f"/login/second-factor?req={pending.id}")
    consented = flow.has_consent(session.account_id, pending.client_id, pending.scopes)
    if "consent" in pending.prompts or not consented:
        if "none" in pending.prompts:
            return to_client(request, flow.error_location(pending.redirect_uri, "consent_required",
                                                           "The citizen has not consented.", pending.state),
                              pending.redirect_uri, pending.response_mode)
        if pending.consent_sid != session.sid:  # a request resumed already cleared for this session is stored
            flow.clear_for_consent(pending, session.sid, account_display)
        return see_other(f"/consent?req={pending.id}")
    location = flow.issue_code(pending, _context(session))
    return to_client(request, location, pending.redirect_uri, pending.response_mode)


def pending_and_session(request: Request, req: str) -> tuple[Pending | None, BrowserSession | None]:
    """The parked request ``req`` and this browser's session, read in one round trip."""
    services = services_of(request)
    sessions = services.sessions
    pending_key, session_key = AuthorizationFlow.pending_key(req), sessions.key_of(request)
    keys = [key for key in (pending_key, session_key) if key is not None]
    records = dict(zip(keys, services.store.get_all(keys), strict=True))
    pending = AuthorizationFlow.pending_from(req, records[pending_key]) if pending_key else None
    session = sessions.from_record(session_key[1], records[session_key]) if session_key else None
    return pending, session


def _level_step(request: Request, pending: Pending, session: BrowserSession) -> LevelStep:
    """Whether this session meets the request's level, needs a second factor, or never can."""
    services = services_of(request)
    reached = services.acr.level_of(session.acr) or 0
    account_level = session.level
    if reached < pending.preferred_level:
        # The account may have been raised (or lowered) at a desk since this session began.
        subject = services.accounts.load_subject(session.account_id)
        account_level = subject.account.level if subject is not None else 0
    return next_level_step(pending.level_requirement, account_level, reached,
                           interactive="none" not in pending.prompts)


def cleared_for_consent(request: Request, pending: Pending, session: BrowserSession) -> bool:
    """Whether the authorization flow sent *this* session to consent, and it still reaches the level.

    Only :func:`_next_step` decides login freshness (``prompt=login``, ``max_age``, ``id_token_hint``)
    and levels; a consent form reached any other way goes back through it.
    """
    cleared = pending.consent_sid is not None and secrets.compare_digest(pending.consent_sid, session.sid)
    return cleared and (services_of(request).acr.level_of(session.acr) or 0) >= pending.min_level


def _context(session: BrowserSession) -> AuthContext:
    return AuthContext(account_id=session.account_id, auth_time=session.auth_time, acr=session.acr,
                       amr=session.amr, sid=session.sid)


async def authorization_pairs(request: Request) -> list[tuple[str, str]]:
    """The request's parameters: the query, or the form body of a POST (read on the loop, before the handler)."""
    if request.method == "POST":
        form = await request.form()
        return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return list(request.query_params.multi_items())


@router.api_route("/authorize", methods=["GET", "POST"])
def authorize(request: Request, pairs: list[tuple[str, str]] = Depends(authorization_pairs)) -> Response:
    """OIDC Core §3.1.2.1: GET and POST (form) are both supported."""
    if len(pairs) > _MAX_QUERY_PAIRS:
        return error_page(request, "error.invalid_request", 400)
    services = services_of(request)
    flow = flow_of(request)
    given = dict(pairs)
    pushed = "request_uri" in given
    if pushed:
        # RFC 9126 §4: only client_id and request_uri matter; the pushed parameters replace the rest.
        stored = take_pushed_request(flow, given["request_uri"], given.get("client_id"))
        if stored is None:
            return error_page(request, "error.request_expired", 400)
        pairs = stored
    http_request = HttpRequest(method="GET", url=f"{services.settings.issuer}/authorize",
                               headers=request.headers, query=pairs)
    result = flow.validate(http_request, pushed)
    if isinstance(result, ErrorRedirect):
        return to_client(request, result.location, result.redirect_uri, result.response_mode)
    if isinstance(result, ErrorPage):
        log.info("authorization request refused without redirect: %s", result.description)
        return error_page(request, result.message_key, 400)
    return _next_step(request, result, services.sessions.current(request))


@router.get("/authorize/resume")
def authorize_resume(request: Request, req: str = "") -> Response:
    pending, session = pending_and_session(request, req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    return _next_step(request, pending, session, parked=True)


@router.get("/login")
def login_page(request: Request, req: str = "") -> Response:
    pending = flow_of(request).resume(req) if req else None
    if req and pending is None:
        return error_page(request, "error.request_expired", 400)
    return render(request, "login.html", {
        "req": req,
        "client_name": pending.client_name if pending else None,
        "cccd": (pending.login_hint or "") if pending else "",
        "error": None,
    }, ui_locales=pending.ui_locales if pending else None, redirect_target=pending.redirect_uri if pending else None)


@router.post("/login")
def login_submit(
    request: Request,
    csrf_token: str = Form(""),
    req: str = Form(""),
    cccd: str = Form("", max_length=64),
    password: str = Form("", max_length=1024),
) -> Response:
    services = services_of(request)
    flow = flow_of(request)
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    pending = flow.resume(req) if req else None
    if req and pending is None:
        return error_page(request, "error.request_expired", 400)
    t = translator(locale_of(request))
    context = {"req": req, "client_name": pending.client_name if pending else None, "cccd": cccd}
    target = pending.redirect_uri if pending else None
    try:
        services.limiter.hit(LOGIN_PER_IP, client_ip(request))
        account = services.accounts.authenticate(cccd, password)
    except RateLimited as exc:
        page = render(request, "login.html", {**context, "error": t("error.rate_limited")}, 429,
                      redirect_target=target)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except AuthenticationFailed:
        return render(request, "login.html", {**context, "error": t("error.login.invalid_credentials")}, 401,
                      redirect_target=target)
    except AccountLocked as exc:
        # Say why and how to unlock (the reasons the law names), never which password was right.
        key = f"error.login.locked.{exc.reason}"
        message = t(key) if t(key) != key else t("error.login.locked")
        return render(request, "login.html", {**context, "error": message}, 403,
                      redirect_target=target)
    old = services.sessions.current(request)
    if old is not None:
        services.sessions.end(old.sid)
    # A password alone reaches level 1 whatever the account holds; level 2 needs a second factor
    # in this session (DESIGN.md §2), asked for by the authorization flow when a request needs it.
    session = services.sessions.start(account.id, services.acr.acr_for(1), (AMR_PASSWORD,), account.level,
                                      device=describe_device(request.headers.get("user-agent")))
    services.audit.append("login.succeeded", account_id=account.id,
                          client_id=pending.client_id if pending else None, amr=[AMR_PASSWORD])
    if pending is None:
        response: Response = see_other("/account")
    else:
        # The flow goes on from here, not through a redirect to /authorize/resume (one request fewer
        # per login): this session has just logged in for this request, which satisfies prompt=login
        # and max_age; the next step parks the request with that fact if it needs another page.
        response = _next_step(request, replace(pending, fresh_login=True), session,
                              account_display=mask_cccd(account.cccd))
    services.sessions.set_cookie(response, session)
    return response


@router.get("/consent")
def consent_page(request: Request, req: str = "") -> Response:
    services = services_of(request)
    pending, session = pending_and_session(request, req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    if session is None:
        return see_other(f"/login?req={pending.id}")
    if not cleared_for_consent(request, pending, session):
        return see_other(f"/authorize/resume?req={pending.id}")
    display = pending.account_display
    if display is None:
        cccd = services.accounts.cccd_of(session.account_id)
        display = mask_cccd(cccd) if cccd else ""
    return render(request, "consent.html", {
        "req": pending.id, "client_name": pending.client_name, "scopes": pending.scopes,
        "account_display": display,
    }, ui_locales=pending.ui_locales, redirect_target=pending.redirect_uri)


@router.post("/consent")
def consent_submit(
    request: Request, csrf_token: str = Form(""), req: str = Form(""), decision: str = Form("")
) -> Response:
    flow = flow_of(request)
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    pending, session = pending_and_session(request, req)
    if pending is None:
        return error_page(request, "error.request_expired", 400)
    if session is None:
        return see_other(f"/login?req={pending.id}")
    if not cleared_for_consent(request, pending, session):
        # Only the authorization flow decides login freshness and levels: a consent form cannot skip them.
        return see_other(f"/authorize/resume?req={pending.id}")
    if decision != "allow":
        flow.finish(pending.id)
        return to_client(request, flow.error_location(pending.redirect_uri, "access_denied",
                                                       "The citizen declined.", pending.state),
                          pending.redirect_uri, pending.response_mode)
    location = flow.issue_code(pending, _context(session), consented=True)
    return to_client(request, location, pending.redirect_uri, pending.response_mode)
