"""The application factory: ``create_app(settings)`` wires every router to one :class:`Services`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from identity_service.admin import api as admin_api
from identity_service.admin import registrar
from identity_service.config import Environment, Settings
from identity_service.oidc import discovery, introspection, jwks, par, token, userinfo
from identity_service.oidc.authorization import AuthorizationFlow
from identity_service.services import Services, build_services
from identity_service.storage.database import DatabaseUnavailable
from identity_service.storage.ephemeral import StoreUnavailable
from identity_service.web import (
    account,
    account_password,
    account_security,
    account_services,
    account_sessions,
    activation_api,
    authorize,
    enroll,
    enrollment_api,
    health,
    logout,
    second_factor,
)
from identity_service.web.body_limit import BodySizeLimitMiddleware
from identity_service.web.pages import error_page
from identity_service.web.security_headers import SecurityHeadersMiddleware

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


# PoolTimeout: every pooled connection busy for pool_timeout; DatabaseUnavailable: the same on the event loop.
_STORAGE_ERRORS = (StoreUnavailable, OperationalError, PoolTimeout, DatabaseUnavailable)
_JSON_PATHS = ("/token", "/userinfo", "/api/", "/readyz", "/admin/", "/registrar/", "/introspect", "/revoke", "/par")


def _unavailable(request: Request, exc: Exception) -> Response:
    # DESIGN.md §5: fail closed with 503 + Retry-After; never a 500, never a token on partial state.
    log.error("dependency unavailable on %s: %s", request.url.path, type(exc).__name__)
    if not request.url.path.startswith(_JSON_PATHS):
        page = error_page(request, "error.server_unavailable", 503)
        page.headers["Retry-After"] = "5"
        return page
    return JSONResponse({"error": "temporarily_unavailable",
                         "error_description": "A storage service is unavailable; try again shortly."},
                        status_code=503, headers={"Retry-After": "5", "Cache-Control": "no-store"})


class IdentityProvider(FastAPI):
    """The FastAPI app, except that ``POST /token`` goes straight to its handler.

    The token endpoint is the hottest path (every relying party, every machine client, every
    refresh). Starlette's and FastAPI's per-request machinery around it (error and exception
    middleware, routing, dependency resolution, response wrappers) cost ≈40 % of a
    ``client_credentials`` grant; here the same handler (:func:`identity_service.oidc.token.token`)
    runs inside the same two middlewares the app uses — security headers outside, body-size limit
    inside — and a storage failure becomes the same 503 (:func:`_unavailable`). The route stays
    registered: it documents the endpoint in ``/openapi.json`` and serves what this shortcut does
    not take (another method, a mounted ``root_path``). tests/oidc/test_token_shortcut.py checks
    that both answer alike.
    """

    token_shortcut: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/token" and scope["method"] == "POST" and not self.root_path:
            scope["app"] = self  # as Starlette sets it: the handler reads app.state
            await self.token_shortcut(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _token_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        response = await token.token(request)
    except _STORAGE_ERRORS as exc:
        response = _unavailable(request, exc)
    await response(scope, receive, send)


async def _validation_problem(request: Request, exc: Exception) -> Response:
    """JSON callers get RFC 9457 problem details; browsers get a page."""
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith(("/api/", "/admin/", "/registrar/")):
        return error_page(request, "error.invalid_request", 400)
    errors = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": e.get("msg", "")}
              for e in exc.errors()]
    return JSONResponse({"type": "about:blank", "title": "Invalid request", "status": 400,
                         "detail": "The request is malformed.", "errors": errors},
                        status_code=400, media_type="application/problem+json")


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (modules, the app, SQLAlchemy's and pydantic's metadata: ≈190,000
        # objects) lives as long as the process. Frozen, the collector's full passes stop re-scanning
        # it: each one cost ≈100 ms, about 35 µs per refresh grant at load (docs/operations.md).
        gc.freeze()
        yield
        await services.close_async()
        services.close()

    app = IdentityProvider(
        title="identity_service",
        description="National electronic identity provider (OpenID Connect) for CCCD-bound citizen accounts.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if settings.environment is Environment.DEVELOPMENT else None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.grant_threads = anyio.CapacityLimiter(settings.token_threads)
    app.state.authorization_flow = AuthorizationFlow(services.oauth)
    app.state.discovery_json = discovery.metadata_bytes(settings, services.keys.algorithms)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=not settings.is_local_http)
    app.token_shortcut = SecurityHeadersMiddleware(
        BodySizeLimitMiddleware(_token_endpoint, max_bytes=settings.max_body_bytes), hsts=not settings.is_local_http)
    for error in _STORAGE_ERRORS:
        app.add_exception_handler(error, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    # FastAPI tries the included routers in turn, ~37,000 instructions each for a request that passes
    # them (callgrind): discovery and JWKS (one route each, the busiest GETs) come first, then the login
    # pages, five of a login's six requests (docs/operations.md).
    for module in (discovery, jwks, authorize, token, introspection, par, userinfo, health, second_factor, enroll,
                   enrollment_api, account, account_security, account_sessions, account_services, account_password,
                   logout, admin_api, registrar, activation_api):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
