"""Flask decorator, ASGI and WSGI middleware: identity handed over, 401/403/503 challenges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import flask
from conftest import KeyServer
from identity_client import AsyncTokenVerifier, TokenVerifier
from identity_client.middleware import IdentityASGIMiddleware, IdentityWSGIMiddleware, flask_require_identity
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client


def test_flask_decorator(key_server: KeyServer) -> None:
    verifier = TokenVerifier(key_server.base_url, audience="client-1")
    app = flask.Flask(__name__)

    @app.get("/dossier")
    @flask_require_identity(verifier, level=2)
    def dossier() -> dict[str, Any]:
        return {"subject": flask.g.identity.subject}

    client = app.test_client()
    level2 = key_server.sign(acr="urn:eid:vn:level2")
    assert client.get("/dossier", headers={"Authorization": f"Bearer {level2}"}).json == {"subject": "sub-1"}
    missing = client.get("/dossier")
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    step_up = client.get("/dossier", headers={"Authorization": f"Bearer {key_server.sign()}"})
    assert step_up.status_code == 403 and 'acr_values="urn:eid:vn:level2"' in step_up.headers["WWW-Authenticate"]
    bad = client.get("/dossier", headers={"Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_asgi_middleware(key_server: KeyServer) -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"subject": request.scope["state"]["identity"].subject})

    app = IdentityASGIMiddleware(Starlette(routes=[Route("/", whoami)]),
                                 AsyncTokenVerifier(key_server.base_url, audience="client-1"))
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/", headers={"Authorization": f"Bearer {key_server.sign()}"}).json() == {"subject": "sub-1"}
        assert client.get("/").status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {key_server.sign(aud='x')}"}).status_code == 401


def test_wsgi_middleware(key_server: KeyServer) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["identity_client.identity"].subject.encode()]

    client = Client(IdentityWSGIMiddleware(app, TokenVerifier(key_server.base_url, audience="client-1"), level=1))
    response = client.get("/", headers={"Authorization": f"Bearer {key_server.sign()}"})
    assert response.status_code == 200 and response.data == b"sub-1"
    assert client.get("/").status_code == 401
    key_server.down = True
    unverifiable = TokenVerifier(key_server.base_url, audience="client-1")
    bearer = {"Authorization": f"Bearer {key_server.sign()}"}
    down = Client(IdentityWSGIMiddleware(app, unverifiable)).get("/", headers=bearer)
    assert down.status_code == 503 and down.headers["Retry-After"]
