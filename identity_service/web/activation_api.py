"""Activating a level-2 account created at a registration desk (JSON API for the app).

The citizen sends the CCCD number, the activation code texted to them, and the password they
choose. Errors are RFC 9457 problem details; a wrong code, an unknown number and an account that
needs no activation all get the same answer (no enumeration).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from identity_service.identity.activation import ActivationFailed, ActivationWeakPassword
from identity_service.security.rate_limits import (
    ACTIVATION_RESEND_PER_CCCD,
    ENROLL_PER_IP,
    OTP_VERIFY_PER_IP,
    RateLimited,
    client_ip,
)
from identity_service.services import Services

router = APIRouter(prefix="/api/activation", tags=["Enrollment"])


class Activate(BaseModel):
    cccd: str = Field(max_length=12, min_length=12, description="12-digit personal identification number")
    code: str = Field(max_length=16, min_length=1, description="The activation code received by SMS")
    password: str = Field(max_length=1024, min_length=1, description="The password the citizen chooses")


class ResendCode(BaseModel):
    cccd: str = Field(max_length=12, min_length=12, description="12-digit personal identification number")


class Activated(BaseModel):
    level: int
    status: str


def _problem(status: int, code: str, title: str, request: Request, **extra: object) -> Response:
    body = {"type": f"urn:eid:vn:problem:{code}", "title": title, "status": status, "code": code,
            "instance": request.url.path, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json",
                        headers={"Cache-Control": "no-store"})


@router.post("", status_code=201, response_model=Activated,
             summary="Set the first password of a desk-created account with its SMS activation code")
def activate(body: Activate, request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        services.limiter.hit(OTP_VERIFY_PER_IP, client_ip(request))
        account = services.activations.activate(body.cccd, body.code, body.password)
    except RateLimited as exc:
        response = _problem(429, exc.code, "Too many attempts", request)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ActivationWeakPassword as exc:
        return _problem(400, exc.code, "The password is too weak", request, problems=exc.problems)
    except ActivationFailed as exc:
        return _problem(400, exc.code, "The activation code is wrong or expired", request)
    return JSONResponse({"level": account.level, "status": account.status}, status_code=201)


@router.post("/code", status_code=202,
             summary="Send a new activation code to the phone recorded at the desk",
             description="Always 202 whether or not an activation is pending for the number (no enumeration). "
                         "The code goes only to the phone the registration desk recorded, never to one given here. "
                         "Limited per number and per address (429 + Retry-After).")
def resend_code(body: ResendCode, request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        services.limiter.hit(ENROLL_PER_IP, client_ip(request))
        services.limiter.hit(ACTIVATION_RESEND_PER_CCCD, body.cccd)
        services.activations.resend(body.cccd)
    except RateLimited as exc:
        response = _problem(429, exc.code, "Too many attempts", request)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return JSONResponse({"status": "accepted"}, status_code=202)
