"""Pushed authorization requests (RFC 9126): the client posts the request, gets a one-time URI."""

from __future__ import annotations

import secrets

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.authorization import AuthorizationError, AuthorizationFlow
from identity_service.oidc.server import HttpRequest
from identity_service.oidc.token import read_form

router = APIRouter(tags=["OpenID Connect"])

URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_TTL = 60
_PUSHED = "par"
_CLIENT_AUTH_FIELDS = {"client_secret", "client_assertion", "client_assertion_type"}
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def take_pushed_request(
    flow: AuthorizationFlow, request_uri: str, client_id: str | None
) -> list[tuple[str, str]] | None:
    """The pushed parameters, once (RFC 9126 §4: the request_uri is single use), for that client only."""
    if not request_uri.startswith(URI_PREFIX) or len(request_uri) > 200 or not client_id:
        return None
    data = flow.server.store.take(_PUSHED, request_uri.removeprefix(URI_PREFIX))
    if data is None or data["client_id"] != client_id:
        return None
    return [(k, v) for k, v in data["query"]]


def _error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _push(flow: AuthorizationFlow, http_request: HttpRequest) -> Response:
    server = flow.server
    try:
        client = server.authenticate_client(server.create_oauth2_request(http_request), AUTH_METHODS, endpoint="par")
    except OAuth2Error as error:
        return _error(error.error, error.description or "Client authentication failed.", error.status_code)
    params = [(k, v) for k, v in http_request.form if k not in _CLIENT_AUTH_FIELDS]
    if dict(params).get("client_id", client.client_id) != client.client_id:
        return _error("invalid_request", "client_id does not match the authenticated client.")
    if "request_uri" in dict(params):
        return _error("invalid_request", "request_uri is not allowed in a pushed request.")
    if "client_id" not in dict(params):
        params.append(("client_id", client.client_id))
    checked = flow.check(HttpRequest(method="GET", url=http_request.url, headers=http_request.headers,
                                     query=params), pushed=True)
    if isinstance(checked, AuthorizationError):
        return _error(checked.error, checked.description)
    key = secrets.token_urlsafe(32)
    server.store.put(_PUSHED, key, {"client_id": client.client_id, "query": [list(p) for p in params]}, PAR_TTL)
    return JSONResponse({"request_uri": URI_PREFIX + key, "expires_in": PAR_TTL}, status_code=201,
                        headers={"Cache-Control": "no-store"})


@router.post("/par", summary="Pushed authorization request (RFC 9126)", status_code=201)
async def pushed_authorization_request(request: Request) -> Response:
    http_request = await read_form(request, "/par")
    if isinstance(http_request, Response):
        return http_request
    flow: AuthorizationFlow = request.app.state.authorization_flow
    response: Response = await run_in_threadpool(_push, flow, http_request)
    return response
