"""UserInfo endpoint (OIDC Core §5.3): claims for the access token's scopes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.claims import user_claims
from identity_service.services import Services

router = APIRouter(tags=["OpenID Connect"])


def _invalid_token(description: str) -> Response:
    # RFC 6750 §3: the error goes in WWW-Authenticate.
    return Response(status_code=401, headers={
        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"',
        "Cache-Control": "no-store",
    })


def _claims_for(services: Services, token: str) -> dict[str, Any] | None:
    verified = services.issuer.verify_access_token(token)
    if verified is None:
        return None
    claims, record = verified
    subject = services.accounts.load_subject(record["account_id"])
    if subject is None or subject.account.status != "active":
        return None
    released = user_claims(subject.account, subject.citizen, set(str(record["scope"]).split()))
    released["sub"] = claims["sub"]
    return released


@router.get("/userinfo", summary="Claims about the authenticated citizen", operation_id="userinfo_get")
@router.post("/userinfo", summary="Claims about the authenticated citizen (POST)", operation_id="userinfo_post")
async def userinfo(request: Request) -> Response:
    services: Services = request.app.state.services
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="userinfo"',
                                                  "Cache-Control": "no-store"})
    claims = await run_in_threadpool(_claims_for, services, token.strip())
    if claims is None:
        return _invalid_token("The access token is invalid, expired or revoked.")
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})
