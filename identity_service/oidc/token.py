"""Token endpoint (RFC 6749 §3.2): authlib validates the grant; this reads the form and answers."""

from __future__ import annotations

import base64
from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.server import HttpRequest
from identity_service.security.rate_limits import TOKEN_PER_CLIENT, RateLimited, client_ip
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


def _guarded(handler: Callable[..., Response], *args: object) -> Response:
    """authlib raises ValueError when an error description would echo forbidden characters from the
    request; answer that as the malformed request it is (RFC 6749 §5.2), never a 500."""
    try:
        return handler(*args)
    except ValueError:
        return JSONResponse({"error": "invalid_request", "error_description": "Malformed parameters."},
                            status_code=400, headers={"Cache-Control": "no-store"})


@router.post("/token", summary="Token endpoint: authorization_code, refresh_token, client_credentials")
async def token(request: Request) -> Response:
    http_request = await read_form(request, "/token")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    # Keyed by client and address, so nobody can spend another client's budget from elsewhere.
    bucket = f"{_claimed_client_id(request, http_request)}|{client_ip(request)}"
    # One hop to the threadpool for the rate limit (a Redis round trip) and authlib (storage I/O):
    # nothing blocking runs on the event loop.
    return await run_in_threadpool(_limited_token_response, services, bucket, http_request)


def _limited_token_response(services: Services, bucket: str, http_request: HttpRequest) -> Response:
    try:
        services.limiter.hit(TOKEN_PER_CLIENT, bucket)
    except RateLimited as exc:
        return JSONResponse({"error": "slow_down", "error_description": "Too many token requests."},
                            status_code=429, headers={"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"})
    return _guarded(services.oauth.create_token_response, http_request)


def _claimed_client_id(request: Request, http_request: HttpRequest) -> str:
    """The client the request says it is (not yet authenticated: only used to pick a rate-limit bucket)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode("utf-8", "replace").split(":", 1)[0][:100]
        except ValueError:
            return "?"
    return dict(http_request.form).get("client_id", "?")[:100]


async def _authlib_endpoint(request: Request, path: str, name: str) -> Response:
    http_request = await read_form(request, path)
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    return await run_in_threadpool(_guarded, services.oauth.create_endpoint_response, name, http_request)


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    return await _authlib_endpoint(request, "/introspect", "introspection")


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    return await _authlib_endpoint(request, "/revoke", "revocation")
