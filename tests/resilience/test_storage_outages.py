"""PostgreSQL or Redis going away mid-use: 503 with Retry-After (never a 500, never a token on partial
state), /readyz says so, and the service recovers on its own when they come back. The outage is real:
a proxy in front of the real servers drops every connection and refuses new ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.services import build_services
from identity_service.storage.database import make_engine
from identity_service.storage.ephemeral import make_store
from tests.factories import make_account, make_citizen, make_client
from tests.harness import pkce_pair
from tests.html_forms import form_posting_to
from tests.live_server import free_port, serve_in_thread
from tests.resilience.tcp_proxy import CuttableProxy

REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "mưa-rào-tháng-bảy"


@dataclass
class Stack:
    base_url: str
    pg: CuttableProxy
    redis: CuttableProxy
    client_id: str
    secret: str
    cccd: str


@pytest.fixture
def stack(tmp_path: Path, pg_url: str, pg_engine: object, redis_prefix: str) -> Iterator[Stack]:
    pg_proxy = CuttableProxy("127.0.0.1", 5432)
    redis_proxy = CuttableProxy("127.0.0.1", 6379)
    port = free_port()
    settings = Settings(issuer=f"http://127.0.0.1:{port}", data_dir=tmp_path, keys_dir=tmp_path / "keys",
                        seed_demo=False, argon2_memory_kib=1024, argon2_time_cost=1)
    engine = make_engine(pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}"))
    store = make_store(f"redis://127.0.0.1:{redis_proxy.port}/0", redis_prefix)
    services = build_services(settings, engine=engine, store=store)
    citizen = make_citizen(engine)
    make_account(engine, citizen, PASSWORD)
    client_id, secret = make_client(engine, REDIRECT_URI)
    with serve_in_thread(create_app(settings, services), port) as base_url:
        yield Stack(base_url, pg_proxy, redis_proxy, client_id, secret, citizen.cccd)
    engine.dispose()
    pg_proxy.close()
    redis_proxy.close()


def _eventually(check: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _login_and_get_code(stack: Stack) -> tuple[httpx.Response, str | None, str]:
    """Walk the browser flow; returns the last response, the code if one was issued, and the verifier."""
    verifier, challenge = pkce_pair()
    browser = httpx.Client(base_url=stack.base_url, follow_redirects=False, timeout=10)
    query = urlencode({"response_type": "code", "client_id": stack.client_id, "redirect_uri": REDIRECT_URI,
                       "scope": "openid", "state": "s", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    response = browser.get(f"/authorize?{query}")
    if response.status_code != 303:
        return response, None, verifier
    page = browser.get(response.headers["location"])
    form = form_posting_to(page.text, "/login")
    response = browser.post("/login", data={**form.fields, "cccd": stack.cccd, "password": PASSWORD})
    if response.status_code != 303:
        return response, None, verifier
    if response.headers["location"].startswith("/consent"):  # first visit: consent; later: straight back
        page = browser.get(response.headers["location"])
        form = form_posting_to(page.text, "/consent")
        response = browser.post("/consent", data={**form.fields, "decision": "allow"})
    location = response.headers.get("location", "")
    code = httpx.URL(location).params.get("code") if location.startswith(REDIRECT_URI) else None
    return response, code, verifier


def _exchange(stack: Stack, code: str, verifier: str) -> httpx.Response:
    return httpx.post(f"{stack.base_url}/token", data={"grant_type": "authorization_code", "code": code,
                                                       "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                      auth=(stack.client_id, stack.secret), timeout=10)


def _ready(stack: Stack) -> bool:
    return httpx.get(f"{stack.base_url}/readyz", timeout=10).status_code == 200


@pytest.mark.parametrize("outage", ["redis", "postgresql"])
def test_outage_answers_503_and_the_service_recovers_by_itself(stack: Stack, outage: str) -> None:
    _, code, verifier = _login_and_get_code(stack)
    assert code is not None and _exchange(stack, code, verifier).status_code == 200  # healthy first
    proxy = stack.redis if outage == "redis" else stack.pg
    proxy.cut()
    readiness = httpx.get(f"{stack.base_url}/readyz", timeout=10)
    assert readiness.status_code == 503 and readiness.headers["retry-after"]
    assert readiness.json()["store" if outage == "redis" else "database"] == "unavailable"
    response, code, _ = _login_and_get_code(stack)
    assert code is None
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    token = httpx.post(f"{stack.base_url}/token", data={"grant_type": "client_credentials"},
                       auth=(stack.client_id, stack.secret), timeout=10)
    assert token.status_code in (400, 503) and "access_token" not in token.text
    assert httpx.get(f"{stack.base_url}/healthz", timeout=10).status_code == 200  # alive, just not ready
    proxy.restore()
    assert _eventually(lambda: _ready(stack)), "the service did not recover on its own"
    _, code, verifier = _login_and_get_code(stack)
    assert code is not None and _exchange(stack, code, verifier).status_code == 200


def test_a_code_issued_before_a_redis_outage_is_not_lost_or_double_spent(stack: Stack) -> None:
    _, code, verifier = _login_and_get_code(stack)
    assert code is not None
    stack.redis.cut()
    assert _exchange(stack, code, verifier).status_code == 503  # no token on partial state
    stack.redis.restore()
    assert _eventually(lambda: _ready(stack))
    first = _exchange(stack, code, verifier)
    assert first.status_code == 200, first.text
    assert _exchange(stack, code, verifier).status_code == 400  # still single use


def _refresh(stack: Stack, refresh_token: str) -> httpx.Response:
    return httpx.post(f"{stack.base_url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                      auth=(stack.client_id, stack.secret), timeout=10)


def test_a_refresh_on_the_event_loop_answers_503_in_an_outage_and_rotates_after_it(stack: Stack) -> None:
    """The usual rotation runs on asyncpg with its own pool (storage/async_statements.py):
    its dead connections must fail as 503 — the token not consumed — and be replaced after the outage."""
    _, code, verifier = _login_and_get_code(stack)
    assert code is not None
    tokens = _exchange(stack, code, verifier).json()
    rotated = _refresh(stack, tokens["refresh_token"])  # opens the event loop's connection
    assert rotated.status_code == 200, rotated.text
    stack.pg.cut()
    during = _refresh(stack, rotated.json()["refresh_token"])
    assert during.status_code == 503 and during.headers["retry-after"] and "access_token" not in during.text
    stack.pg.restore()
    after = _refresh(stack, rotated.json()["refresh_token"])
    assert after.status_code == 200, after.text  # not consumed by the failed attempt, and no reuse alarm
