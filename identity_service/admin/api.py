"""Admin API for client management. Callers present a client_credentials access token with the
``admin`` scope; every error is RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.admin.clients import (
    ADMIN_SCOPE,
    ClientExists,
    ClientNotFound,
    ClientSpec,
    describe,
    get_client,
    list_clients,
    register_client,
    remove_client,
    rotate_client_secret,
    update_client,
)
from identity_service.services import Services

router = APIRouter(prefix="/admin", tags=["Admin"])


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="admin", error="invalid_token"'
    if status == 403:
        headers["WWW-Authenticate"] = f'Bearer realm="admin", error="insufficient_scope", scope="{ADMIN_SCOPE}"'
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _validation_problem(exc: ValidationError | ValueError) -> Response:
    if isinstance(exc, ValidationError):
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem(400, "Invalid client registration", "The registration is not valid.", errors=errors)
    return problem(400, "Invalid client registration", str(exc))


async def _authorize(request: Request) -> Response | None:
    services: Services = request.app.state.services
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        return problem(401, "Unauthorized", "Send an access token with the admin scope as a Bearer token.")
    verified = await services.issuer.verify_access_token(token.strip())
    if verified is None:
        return problem(401, "Unauthorized", "The access token is invalid, expired or revoked.")
    record = verified.record
    if record.get("account_id") is not None or ADMIN_SCOPE not in str(record.get("scope", "")).split():
        return problem(403, "Forbidden", "The token lacks the admin scope.")
    return None


async def _json(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return problem(400, "Malformed JSON", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return problem(400, "Malformed JSON", "The request body must be a JSON object.")
    return body


@router.get("/clients", summary="List registered clients")
async def list_all(request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    rows = await run_in_threadpool(list_clients, request.app.state.services.engine)
    return JSONResponse([describe(r) for r in rows])


@router.post("/clients", status_code=201, summary="Register a client (the secret is returned once)")
async def create(request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    body = await _json(request)
    if isinstance(body, Response):
        return body
    try:
        spec = ClientSpec.model_validate(body)
        row, secret = await run_in_threadpool(register_client, request.app.state.services.engine, spec)
    except ClientExists as exc:
        return problem(409, "Conflict", str(exc))
    except (ValidationError, ValueError) as exc:
        return _validation_problem(exc)
    result = describe(row)
    if secret:
        result["client_secret"] = secret
    return JSONResponse(result, status_code=201, headers={"Cache-Control": "no-store",
                                                          "Location": f"/admin/clients/{row.client_id}"})


@router.get("/clients/{client_id}", summary="Show a client")
async def show(client_id: str, request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    try:
        row = await run_in_threadpool(get_client, request.app.state.services.engine, client_id)
    except ClientNotFound:
        return problem(404, "Not Found", f"No client {client_id}.")
    return JSONResponse(describe(row))


@router.patch("/clients/{client_id}", summary="Change a client's registration")
async def patch(client_id: str, request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    body = await _json(request)
    if isinstance(body, Response):
        return body
    try:
        row = await run_in_threadpool(update_client, request.app.state.services.engine, client_id, body)
    except ClientNotFound:
        return problem(404, "Not Found", f"No client {client_id}.")
    except (ValidationError, ValueError) as exc:
        return _validation_problem(exc)
    request.app.state.services.oauth.clients.invalidate(client_id)
    return JSONResponse(describe(row))


@router.post("/clients/{client_id}/secret", summary="Issue a new client secret (the old one stops working)")
async def new_secret(client_id: str, request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    try:
        secret = await run_in_threadpool(rotate_client_secret, request.app.state.services.engine, client_id)
    except ClientNotFound:
        return problem(404, "Not Found", f"No client {client_id}.")
    request.app.state.services.oauth.clients.invalidate(client_id)
    return JSONResponse({"client_id": client_id, "client_secret": secret}, headers={"Cache-Control": "no-store"})


@router.delete("/clients/{client_id}", status_code=204, summary="Remove a client and its grants")
async def remove(client_id: str, request: Request) -> Response:
    if (denied := await _authorize(request)) is not None:
        return denied
    try:
        await run_in_threadpool(remove_client, request.app.state.services.engine, client_id)
    except ClientNotFound:
        return problem(404, "Not Found", f"No client {client_id}.")
    request.app.state.services.oauth.clients.invalidate(client_id)
    return Response(status_code=204)
