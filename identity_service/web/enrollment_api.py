"""Level-1 enrollment as a JSON API (for the mobile app); errors are RFC 9457 problem details."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from identity_service.identity.enrollment import WeakPassword
from identity_service.security.rate_limits import ENROLL_PER_IP, OTP_VERIFY_PER_IP, client_ip
from identity_service.services import Services
from identity_service.web.enrollment_errors import ENROLLMENT_ERRORS, error_code
from identity_service.web.i18n import translator

router = APIRouter(prefix="/api/enrollment", tags=["Enrollment"])

_STATUS = {"enrollment.not_found": 404, "already_enrolled": 409, "otp.too_many_attempts": 429,
           "otp.resend_too_soon": 429, "rate_limited": 429}


class StartEnrollment(BaseModel):
    cccd: str = Field(description="12-digit personal identification number", max_length=64)
    full_name: str = Field(max_length=200, min_length=1)
    birth_date: date
    phone: str = Field(max_length=32, description="Vietnamese mobile number, 0xxxxxxxxx or +84xxxxxxxxx")


class EnrollmentStarted(BaseModel):
    enrollment_id: str
    expires_in: int


class VerifyCode(BaseModel):
    code: str = Field(max_length=16, min_length=1)


class SetPassword(BaseModel):
    password: str = Field(max_length=1024, min_length=1)


class AccountCreated(BaseModel):
    level: int
    status: str


def _problem(exc: Exception, request: Request) -> Response:
    code = error_code(exc)
    t = translator("en")
    body: dict[str, object] = {
        "type": f"urn:eid:vn:problem:{code}",
        "title": t(f"error.{code}"),
        "status": _STATUS.get(code, 400),
        "code": code,
        "instance": request.url.path,
    }
    if isinstance(exc, WeakPassword):
        body["problems"] = list(exc.problems)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(int(retry_after))} if retry_after else {}
    return JSONResponse(body, status_code=int(str(body["status"])), media_type="application/problem+json",
                        headers=headers)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.post("", status_code=201, response_model=EnrollmentStarted,
             summary="Match the citizen against the registry and send a one-time code")
def start(body: StartEnrollment, request: Request) -> Response:
    services = _services(request)
    try:
        services.limiter.hit(ENROLL_PER_IP, client_ip(request))
        enrollment_id = services.enrollment.start(body.cccd, body.full_name, body.birth_date, body.phone)
    except ENROLLMENT_ERRORS as exc:
        return _problem(exc, request)
    return JSONResponse({"enrollment_id": enrollment_id, "expires_in": services.settings.enrollment_ttl},
                        status_code=201)


@router.post("/{enrollment_id}/verify", status_code=204, summary="Check the one-time code")
def verify(enrollment_id: str, body: VerifyCode, request: Request) -> Response:
    try:
        _services(request).limiter.hit(OTP_VERIFY_PER_IP, client_ip(request))
        _services(request).enrollment.verify_code(enrollment_id, body.code)
    except ENROLLMENT_ERRORS as exc:
        return _problem(exc, request)
    return Response(status_code=204)


@router.post("/{enrollment_id}/resend", status_code=204, summary="Send a new one-time code")
def resend(enrollment_id: str, request: Request) -> Response:
    try:
        _services(request).enrollment.resend_code(enrollment_id)
    except ENROLLMENT_ERRORS as exc:
        return _problem(exc, request)
    return Response(status_code=204)


@router.post("/{enrollment_id}/password", status_code=201, response_model=AccountCreated,
             summary="Set the password and create the level-1 account")
def set_password(enrollment_id: str, body: SetPassword, request: Request) -> Response:
    try:
        account = _services(request).enrollment.set_password(enrollment_id, body.password)
    except ENROLLMENT_ERRORS as exc:
        return _problem(exc, request)
    return JSONResponse({"level": account.level, "status": account.status}, status_code=201)
