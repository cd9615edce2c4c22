"""Token endpoint (RFC 6749 §3.2): authlib validates the grant; this reads the form and answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.server import HttpRequest
from identity_service.services import Services

router = APIRouter(tags=["OpenID Connect"])

_MAX_FORM_FIELDS = 30


@router.post("/token", summary="Exchange an authorization code for tokens")
async def token(request: Request) -> Response:
    services: Services = request.app.state.services
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return JSONResponse({"error": "invalid_request",
                             "error_description": "Use application/x-www-form-urlencoded."},
                            status_code=400, headers={"Cache-Control": "no-store"})
    form = await request.form(max_fields=_MAX_FORM_FIELDS)
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    http_request = HttpRequest(method="POST", url=f"{services.settings.issuer}/token",
                               headers=request.headers, form=pairs)
    response: Response = await run_in_threadpool(services.oauth.create_token_response, http_request)
    return response
