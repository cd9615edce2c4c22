"""UserInfo endpoint (OIDC Core §5.3): claims for the access token's scopes.

On the event loop: the token's signature and claims on the CPU, its record, family marker and cut-off
in one pipelined round trip (:meth:`TokenIssuer.verify_access_token`); then the account and its
registry entry, one SQL read in the threadpool (read every time, so that locking takes effect at once).
"""

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


async def _claims_for(services: Services, token: str) -> dict[str, Any] | None:
    state = await services.issuer.verify_access_token(token)
    if state is None or state.record.get("account_id") is None:  # a client_credentials token has no citizen
        return None
    subject = await run_in_threadpool(services.accounts.load_subject, str(state.record["account_id"]))
    if subject is None or subject.account.status != "active":
        return None
    released = user_claims(subject.account, subject.citizen, set(str(state.record["scope"]).split()))
    released["sub"] = state.claims["sub"]
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
    claims = await _claims_for(services, token.strip())
    if claims is None:
        return _invalid_token("The access token is invalid, expired or revoked.")
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})
