"""Framework-neutral glue: a Flask decorator and plain ASGI / WSGI middlewares.

Each verifies the request's Bearer access token and hands the :class:`Identity` to the application
(Flask: ``flask.g.identity``; ASGI: ``scope["state"]["identity"]``; WSGI:
``environ["identity_client.identity"]``). Failures answer 401/403 JSON with a ``WWW-Authenticate``
challenge (RFC 6750 §3; ``insufficient_user_authentication`` with ``acr_values`` for step-up).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from identity_client.errors import IdentityError, InsufficientLevel, ProviderUnavailable
from identity_client.verifier import AsyncTokenVerifier, TokenVerifier

LEVEL_ACR = {1: "urn:eid:vn:level1", 2: "urn:eid:vn:level2"}
F = TypeVar("F", bound=Callable[..., Any])


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _failure(exc: IdentityError | None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, JSON body) for a missing or refused token."""
    if exc is None:
        status, challenge, error = 401, 'Bearer realm="identity"', "missing bearer token"
    elif isinstance(exc, InsufficientLevel):
        status, error = 403, str(exc)
        challenge = (f'Bearer error="insufficient_user_authentication", error_description="{exc}", '
                     f'acr_values="{LEVEL_ACR.get(exc.required, "")}"')
    elif isinstance(exc, ProviderUnavailable):
        return 503, {"Retry-After": "5", "Content-Type": "application/json"}, b'{"error":"temporarily_unavailable"}'
    else:
        status, error = 401, str(exc)
        challenge = f'Bearer error="invalid_token", error_description="{exc}"'
    body = json.dumps({"error": error}).encode()
    return status, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, body


def flask_require_identity(verifier: TokenVerifier, level: int | None = None) -> Callable[[F], F]:
    """``@flask_require_identity(verifier, level=2)`` on a Flask view; the identity is ``flask.g.identity``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            import flask

            token = _bearer(flask.request.headers.get("Authorization"))
            try:
                if token is None:
                    raise _Missing
                flask.g.identity = verifier.verify_access_token(token, level=level)
            except (IdentityError, _Missing) as exc:
                status, headers, body = _failure(exc if isinstance(exc, IdentityError) else None)
                return flask.Response(body, status=status, headers=headers)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


class _Missing(Exception):
    pass


class IdentityASGIMiddleware:
    """Protects every HTTP request of an ASGI app; the identity goes to ``scope["state"]["identity"]``."""

    def __init__(self, app: Any, verifier: AsyncTokenVerifier, level: int | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self.level = level

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = _bearer(headers.get("authorization"))
        error: IdentityError | None = None
        if token is not None:
            try:
                scope.setdefault("state", {})["identity"] = await self.verifier.verify_access_token(
                    token, level=self.level)
                await self.app(scope, receive, send)
                return
            except IdentityError as exc:
                error = exc
        status, response_headers, body = _failure(error)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers.items()]})
        await send({"type": "http.response.body", "body": body})


class IdentityWSGIMiddleware:
    """Protects every request of a WSGI app; the identity goes to ``environ["identity_client.identity"]``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], verifier: TokenVerifier, level: int | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self.level = level

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = _bearer(environ.get("HTTP_AUTHORIZATION"))
        error: IdentityError | None = None
        if token is not None:
            try:
                environ["identity_client.identity"] = self.verifier.verify_access_token(token, level=self.level)
                return self.app(environ, start_response)
            except IdentityError as exc:
                error = exc
        status, headers, body = _failure(error)
        reason = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}[status]
        start_response(f"{status} {reason}", list(headers.items()))
        return [body]
