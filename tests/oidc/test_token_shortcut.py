"""``POST /token`` skips FastAPI's routing (app.py, ``IdentityProvider``): it must answer exactly as the
registered route does — same status, headers (security headers, no-store) and errors, the same
body-size limit and form rules, the same 503 when storage is down — and the route stays documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from identity_service.app import create_app
from identity_service.services import build_services
from identity_service.storage.redis_store import RedisStore
from tests.factories import make_client
from tests.harness import ISSUER, REDIRECT_URI, Harness, provider_settings

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class ThroughTheRoute:
    """The same app, entered the way FastAPI would be without the shortcut."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(self.app, scope, receive, send)


def _machine_client(harness: Harness) -> tuple[str, str]:
    return make_client(harness.engine, REDIRECT_URI, scopes="openid profile", grant_types=("client_credentials",))


def _requests(harness: Harness) -> list[dict[str, Any]]:
    basic = httpx.BasicAuth(harness.client_id, harness.client_secret)
    machine_id, machine_secret = _machine_client(harness)
    machine = httpx.BasicAuth(machine_id, machine_secret)
    return [
        {"data": {"grant_type": "client_credentials"}, "auth": machine},
        {"data": {"grant_type": "client_credentials", "scope": "openid"}, "auth": machine},
        {"data": {"grant_type": "client_credentials", "scope": "admin"}, "auth": machine},
        {"data": {"grant_type": "client_credentials"}, "auth": httpx.BasicAuth(machine_id, "wrong")},
        {"data": {"grant_type": "client_credentials"}, "auth": basic},  # not allowed this grant
        {"data": {"grant_type": "client_credentials"}, "auth": httpx.BasicAuth("no-such-client", "x")},
        {"data": {"grant_type": "password", "username": "u", "password": "p"}, "auth": basic},
        {"data": {"grant_type": "refresh_token", "refresh_token": "unknown"}, "auth": basic},
        {"data": {"grant_type": "authorization_code", "code": "unknown", "redirect_uri": REDIRECT_URI,
                  "code_verifier": "v" * 43}, "auth": basic},
        {"json": {"grant_type": "client_credentials"}, "auth": basic},  # not a form
        {"content": b"grant_type=client_credentials&grant_type=client_credentials", "headers": FORM, "auth": basic},
        {"content": "&".join(f"p{i}=v" for i in range(40)).encode(), "headers": FORM, "auth": basic},
        {"content": b"grant_type=client_credentials&scope=%ff%fe", "headers": FORM, "auth": basic},
        {"content": b"a=" + b"x" * 70_000, "headers": FORM},  # over the body-size limit (Content-Length)
        {"content": iter([b"a=", b"x" * 70_000]), "headers": FORM},  # over it, streamed without a length
    ]


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {name: value for name, value in response.headers.items() if name != "content-length"}
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "access_token" in body:
        body = {**body, "access_token": "<signed token>"}  # a fresh token each time
    return response.status_code, headers, body


def test_the_shortcut_answers_every_request_as_the_route_does(harness: Harness) -> None:
    route = TestClient(ThroughTheRoute(harness.client.app), base_url=ISSUER)  # type: ignore[arg-type]
    answers = []
    for request in _requests(harness):
        if "content" in request and not isinstance(request["content"], bytes):
            shortcut_request = {**request, "content": iter([b"a=", b"x" * 70_000])}  # a generator runs once
        else:
            shortcut_request = request
        through_route = _comparable(route.post("/token", **request))
        through_shortcut = _comparable(harness.client.post("/token", **shortcut_request))
        assert through_shortcut == through_route, request
        answers.append(through_shortcut)
    assert answers[0][0] == 200 and answers[-1][0] == 413  # both ends really exercised


def test_a_successful_grant_carries_the_security_and_no_store_headers(harness: Harness) -> None:
    response = harness.client.post("/token", data={"grant_type": "client_credentials"}, auth=_machine_client(harness))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-frame-options"] == "DENY"


@pytest.fixture
def storage_down(tmp_path: Path, sqlite_engine: Engine) -> Iterator[tuple[FastAPI, str, str]]:
    settings = provider_settings(tmp_path)
    store = RedisStore.from_url("redis://127.0.0.1:1/0", "x:")  # nothing listens there
    services = build_services(settings, engine=sqlite_engine, store=store)
    client_id, secret = make_client(sqlite_engine, REDIRECT_URI, grant_types=("client_credentials", "refresh_token"))
    yield create_app(settings, services), client_id, secret


@pytest.mark.parametrize("grant", [{"grant_type": "client_credentials"},
                                   {"grant_type": "refresh_token", "refresh_token": "r"}])
def test_storage_down_is_the_same_503_both_ways(storage_down: tuple[FastAPI, str, str],
                                                grant: dict[str, str]) -> None:
    app, client_id, secret = storage_down
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as shortcut:
        answers = [_comparable(client.post("/token", data=grant, auth=(client_id, secret)))
                   for client in (shortcut, TestClient(ThroughTheRoute(app), base_url=ISSUER,
                                                       raise_server_exceptions=False))]
    assert answers[0] == answers[1]
    status, headers, body = answers[0]
    assert status == 503 and headers["retry-after"] == "5" and headers["cache-control"] == "no-store"
    assert body["error"] == "temporarily_unavailable"


def test_the_route_stays_documented(harness: Harness) -> None:
    operation = harness.client.get("/openapi.json").json()["paths"]["/token"]["post"]
    assert "client_credentials" in operation["summary"]


def test_other_methods_still_get_405_from_the_router(harness: Harness) -> None:
    assert harness.client.get("/token").status_code == 405
