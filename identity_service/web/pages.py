"""Rendering pages: locale, CSRF token, language switch and cookies in one place."""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from starlette.responses import Response

from identity_service.security.rate_limits import RateLimited
from identity_service.services import Services
from identity_service.web.csrf import issue_csrf_token, verify_csrf_token
from identity_service.web.i18n import negotiate_locale, translator
from identity_service.web.templating import make_templates

LANG_COOKIE = "ids_lang"
_templates = make_templates()


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def locale_of(request: Request, ui_locales: str | None = None) -> str:
    explicit = request.query_params.get("lang") or ui_locales
    return negotiate_locale(explicit, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _switch_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    return f"{request.url.path}?{urlencode(params)}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    ui_locales: str | None = None,
    redirect_target: str | None = None,
) -> Response:
    """Render a page. ``redirect_target`` is the client URI a form on this page may end up
    redirecting to: CSP ``form-action`` also governs redirects after a form post."""
    services = services_of(request)
    lang = locale_of(request, ui_locales)
    response = Response(status_code=status_code, media_type="text/html")
    binding = services.sessions.ensure_browser_cookie(request, response)
    full = {
        "t": translator(lang),
        "lang": lang,
        "csrf_token": issue_csrf_token(services.csrf_secret, binding),
        "lang_switch_url_vi": _switch_url(request, "vi"),
        "lang_switch_url_en": _switch_url(request, "en"),
        "static_url": "/static",
        **context,
    }
    body = _templates.get_template(template).render(full)
    response.body = body.encode()
    response.headers["content-length"] = str(len(response.body))
    response.headers["cache-control"] = "no-store"
    if redirect_target:
        parts = urlsplit(redirect_target)
        response.headers["content-security-policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; "
            f"form-action 'self' {parts.scheme}://{parts.netloc}; frame-ancestors 'none'; base-uri 'none'"
        )
    if request.query_params.get("lang") in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax",
                            secure=services.sessions.cookies.secure)
    return response


def error_page(request: Request, message_key: str, status_code: int, title_key: str = "error.title") -> Response:
    t = translator(locale_of(request))
    return render(request, "error.html", {"title": t(title_key), "message": t(message_key),
                                          "status_code": status_code}, status_code)


def retry_later(page: Response, exc: RateLimited) -> Response:
    """A 429 page says when to try again (RFC 6585 §4, ``Retry-After``)."""
    page.headers["Retry-After"] = str(exc.retry_after)
    return page


def csrf_ok(request: Request, token: str | None) -> bool:
    services = services_of(request)
    binding = services.sessions.browser_id(request)
    return bool(binding and token and verify_csrf_token(services.csrf_secret, binding, token))


_AUTO_SUBMIT = "document.forms[0].submit();"
_AUTO_SUBMIT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_AUTO_SUBMIT.encode()).digest()).decode()


def form_post_page(request: Request, action: str, params: list[tuple[str, str]]) -> Response:
    """OAuth 2.0 Form Post Response Mode: the only inline script allowed anywhere, pinned by its hash."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params)
    body = (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>…</title></head><body>'
            f'<form method="post" action="{html.escape(action)}">{inputs}'
            f'<noscript><button type="submit">Tiếp tục / Continue</button></noscript></form>'
            f"<script>{_AUTO_SUBMIT}</script></body></html>")
    parts = urlsplit(action)
    csp = (f"default-src 'none'; script-src '{_AUTO_SUBMIT_HASH}'; form-action {parts.scheme}://{parts.netloc}; "
           "frame-ancestors 'none'; base-uri 'none'")
    return Response(body, media_type="text/html", headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})
