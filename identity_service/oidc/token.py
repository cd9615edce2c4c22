"""Token endpoint (RFC 6749 §3.2): authlib validates the grant; this reads the form and answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.server import HttpRequest
from identity_service.services import Services

router = APIRouter(tags=["OpenID Connect"])

_MAX_FORM_FIELDS = 30


async def read_form(request: Request, path: str) -> HttpRequest | Response:
    services: Services = request.app.state.services
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return JSONResponse({"error": "invalid_request",
                             "error_description": "Use application/x-www-form-urlencoded."},
                            status_code=400, headers={"Cache-Control": "no-store"})
    form = await request.form(max_fields=_MAX_FORM_FIELDS)
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return HttpRequest(method="POST", url=f"{services.settings.issuer}{path}", headers=request.headers, form=pairs)


@router.post("/token", summary="Token endpoint: authorization_code, refresh_token, client_credentials")
async def token(request: Request) -> Response:
    http_request = await read_form(request, "/token")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    response: Response = await run_in_threadpool(services.oauth.create_token_response, http_request)
    return response


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    http_request = await read_form(request, "/introspect")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    response: Response = await run_in_threadpool(services.oauth.create_endpoint_response, "introspection",
                                                 http_request)
    return response


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    http_request = await read_form(request, "/revoke")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    response: Response = await run_in_threadpool(services.oauth.create_endpoint_response, "revocation",
                                                 http_request)
    return response
