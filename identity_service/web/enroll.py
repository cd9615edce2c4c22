"""Level-1 enrollment pages: registry match → one-time code → password (DESIGN.md §1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from identity_service.identity.enrollment import WeakPassword
from identity_service.security.rate_limits import ENROLL_PER_IP, OTP_VERIFY_PER_IP, RateLimited, client_ip
from identity_service.web.enrollment_errors import ENROLLMENT_ERRORS, error_code
from identity_service.web.i18n import translator
from identity_service.web.pages import csrf_ok, error_page, locale_of, render, services_of

router = APIRouter(include_in_schema=False)


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _mask_phone(phone: str) -> str:
    return phone[:3] + "*" * max(len(phone) - 6, 0) + phone[-3:]


@router.get("/enroll")
def enroll_page(request: Request) -> Response:
    return render(request, "enroll_start.html", {"form": {}, "errors": {}})


@router.post("/enroll")
def enroll_submit(
    request: Request,
    csrf_token: str = Form(""),
    cccd: str = Form("", max_length=64),
    full_name: str = Form("", max_length=200),
    birth_date: str = Form("", max_length=20),
    phone: str = Form("", max_length=32),
) -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    t = translator(locale_of(request))
    form = {"cccd": cccd, "full_name": full_name, "birth_date": birth_date, "phone": phone}
    errors: dict[str, str] = {}
    for field in ("cccd", "full_name", "birth_date", "phone"):
        if not form[field].strip():
            errors[field] = t("error.required")
    parsed_birth: date | None = None
    if "birth_date" not in errors:
        try:
            parsed_birth = date.fromisoformat(birth_date)
        except ValueError:
            errors["birth_date"] = t("error.invalid_date")
    if errors:
        return render(request, "enroll_start.html", {"form": form, "errors": errors}, 400)
    assert parsed_birth is not None
    services = services_of(request)
    try:
        services.limiter.hit(ENROLL_PER_IP, client_ip(request))
        enrollment_id = services.enrollment.start(cccd, full_name, parsed_birth, phone)
    except ENROLLMENT_ERRORS as exc:
        code = error_code(exc)
        field = "cccd" if code.startswith("invalid_cccd") else "phone" if code == "invalid_phone" else "form"
        page = render(request, "enroll_start.html", {"form": form, "errors": {field: t(f"error.{code}")}},
                      429 if isinstance(exc, RateLimited) else 400)
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return _see_other(f"/enroll/verify?enrollment={enrollment_id}")


def _verify_page(request: Request, enrollment: str, error: str | None, status_code: int = 200) -> Response:
    services = services_of(request)
    state = services.enrollment.describe(enrollment)
    if state is None:
        return error_page(request, "error.enrollment.not_found", 400)
    return render(request, "enroll_verify.html", {
        "enrollment": enrollment, "phone_masked": _mask_phone(state.phone), "error": error,
    }, status_code)


@router.get("/enroll/verify")
def verify_page(request: Request, enrollment: str = "") -> Response:
    return _verify_page(request, enrollment, None)


def _on_verify_page(request: Request, enrollment: str, action: Callable[[], None], next_url: str) -> Response:
    """Run an enrollment step; on a domain error show the code page again with the message."""
    try:
        action()
    except ENROLLMENT_ERRORS as exc:
        t = translator(locale_of(request))
        return _verify_page(request, enrollment, t(f"error.{error_code(exc)}"), 400)
    return _see_other(next_url)


@router.post("/enroll/verify")
def verify_submit(
    request: Request, csrf_token: str = Form(""), enrollment: str = Form("", max_length=100),
    code: str = Form("", max_length=16),
) -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    services = services_of(request)

    def verify() -> None:
        services.limiter.hit(OTP_VERIFY_PER_IP, client_ip(request))
        services.enrollment.verify_code(enrollment, code.strip())

    return _on_verify_page(request, enrollment, verify,
                           f"/enroll/password?enrollment={enrollment}")


@router.post("/enroll/resend")
def resend_submit(
    request: Request, csrf_token: str = Form(""), enrollment: str = Form("", max_length=100)
) -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    service = services_of(request).enrollment
    return _on_verify_page(request, enrollment, lambda: service.resend_code(enrollment),
                           f"/enroll/verify?enrollment={enrollment}")


@router.get("/enroll/password")
def password_page(request: Request, enrollment: str = "") -> Response:
    services = services_of(request)
    if services.enrollment.describe(enrollment) is None:
        return error_page(request, "error.enrollment.not_found", 400)
    return render(request, "enroll_password.html", {"enrollment": enrollment, "errors": []})


@router.post("/enroll/password")
def password_submit(
    request: Request, csrf_token: str = Form(""), enrollment: str = Form("", max_length=100),
    password: str = Form("", max_length=1024), password_confirm: str = Form("", max_length=1024),
) -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, "error.csrf", 403)
    t = translator(locale_of(request))
    if password != password_confirm:
        return render(request, "enroll_password.html",
                      {"enrollment": enrollment, "errors": [t("error.password.mismatch")]}, 400)
    services = services_of(request)
    try:
        services.enrollment.set_password(enrollment, password)
    except WeakPassword as exc:
        messages = [t(f"error.password.{problem}") for problem in exc.problems]
        return render(request, "enroll_password.html", {"enrollment": enrollment, "errors": messages}, 400)
    except ENROLLMENT_ERRORS as exc:
        return error_page(request, f"error.{error_code(exc)}", 400)
    return _see_other("/enroll/done")


@router.get("/enroll/done")
def done_page(request: Request) -> Response:
    return render(request, "enroll_done.html", {})
