"""Horizontal scale-out: three provider processes share one PostgreSQL and one Redis.

A login started on one process finishes on another; a refresh token rotated on one is rejected as
reused on another; under load, killing one process loses no data and fails no request: a request
refused by the dead process never reached it and goes to the next one (as a load balancer does),
and one that was in flight when it died is retried elsewhere within the refresh grace window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from identity_service.security.keys import ensure_development_key
from tests.factories import make_account, make_citizen, make_client
from tests.harness import pkce_pair
from tests.html_forms import form_posting_to
from tests.live_server import free_port

REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "ba-tiến-trình-một-cơ-sở-dữ-liệu"
ISSUER = "http://localhost:8000"  # one issuer for all replicas (behind a load balancer in production)
Cluster = tuple[list[str], list[subprocess.Popen[bytes]]]


@pytest.fixture
def start_cluster(tmp_path: Path, pg_url: str, pg_engine: Engine, redis_url: str,
                  redis_prefix: str) -> Iterator[Callable[[int], Any]]:
    @contextmanager
    def start(grace: int) -> Iterator[Cluster]:
        env = {**os.environ, "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "IDENTITY_REDIS_PREFIX": redis_prefix,
               "IDENTITY_ISSUER": ISSUER, "IDENTITY_DATA_DIR": str(tmp_path),
               "IDENTITY_KEYS_DIR": str(tmp_path / "keys"), "IDENTITY_SEED_DEMO": "false",
               "IDENTITY_ARGON2_MEMORY_KIB": "1024", "IDENTITY_ARGON2_TIME_COST": "1",
               "IDENTITY_REFRESH_TOKEN_REUSE_GRACE": str(grace), "IDENTITY_LOG_LEVEL": "WARNING"}
        ensure_development_key(tmp_path / "keys")  # one key set for all replicas, as in production
        processes: list[subprocess.Popen[bytes]] = []
        bases: list[str] = []
        try:
            for _ in range(3):
                for _attempt in range(3):  # a free port can be taken again before the child binds it
                    port = free_port()
                    process = subprocess.Popen(
                        [sys.executable, "-m", "identity_service.cli", "serve", "--port", str(port)],
                        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    deadline = time.monotonic() + 60
                    while process.poll() is None and not _ready(f"http://127.0.0.1:{port}"):
                        assert time.monotonic() < deadline, "a provider process did not become ready"
                        time.sleep(0.2)
                    if process.poll() is None:
                        processes.append(process)
                        bases.append(f"http://127.0.0.1:{port}")
                        break
                else:
                    raise AssertionError("a provider process exited three times at start-up")
            yield bases, processes
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                process.wait(timeout=20)

    yield start


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _seed(engine: Engine) -> tuple[str, tuple[str, str]]:
    citizen = make_citizen(engine)
    make_account(engine, citizen, PASSWORD)
    return citizen.cccd, make_client(engine, REDIRECT_URI)


def _login_across(bases: list[str], cccd: str, client: tuple[str, str]) -> dict[str, str]:
    """Each step of the browser flow goes to the next process; returns the tokens."""
    verifier, challenge = pkce_pair()
    browser = httpx.Client(follow_redirects=False, timeout=10)
    step = iter(bases * 3)
    query = {"response_type": "code", "client_id": client[0], "redirect_uri": REDIRECT_URI, "scope": "openid",
             "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    login_path = browser.get(f"{next(step)}/authorize", params=query).headers["location"]
    page = browser.get(next(step) + login_path)
    response = browser.post(f"{next(step)}/login",
                            data={**form_posting_to(page.text, "/login").fields, "cccd": cccd, "password": PASSWORD})
    page = browser.get(next(step) + response.headers["location"])
    response = browser.post(f"{next(step)}/consent",
                            data={**form_posting_to(page.text, "/consent").fields, "decision": "allow"})
    code = httpx.URL(response.headers["location"]).params["code"]
    tokens: dict[str, str] = httpx.post(f"{next(step)}/token", auth=client, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier}).json()
    assert "refresh_token" in tokens, tokens
    return tokens


def _refresh(base: str, client: tuple[str, str], token: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=client,
                      timeout=10)


def test_login_and_refresh_cross_processes(start_cluster: Callable[[int], Any], pg_engine: Engine) -> None:
    with start_cluster(0) as (bases, _):
        cccd, client = _seed(pg_engine)
        tokens = _login_across(bases, cccd, client)
        rotated = _refresh(bases[0], client, tokens["refresh_token"])
        assert rotated.status_code == 200
        reused = _refresh(bases[1], client, tokens["refresh_token"])
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        newest = _refresh(bases[2], client, rotated.json()["refresh_token"])
        assert newest.json()["error"] == "invalid_grant"  # reuse seen on another process revoked the family


def test_killing_one_process_under_load_loses_nothing(start_cluster: Callable[[int], Any], pg_engine: Engine) -> None:
    with start_cluster(10) as (bases, processes):
        chains = []
        for _ in range(6):
            cccd, client = _seed(pg_engine)
            chains.append({"client": client, "refresh": _login_across(bases, cccd, client)["refresh_token"],
                           "rotations": 0, "retried_in_flight": 0})
        alive = list(bases)
        failures: list[str] = []
        lock = threading.Lock()
        halfway = threading.Event()

        def send(start: int, chain: dict[str, Any]) -> httpx.Response | None:
            for attempt in range(2 * len(bases)):
                with lock:
                    targets = list(alive)
                base = targets[(start + attempt) % len(targets)]
                try:
                    return _refresh(base, chain["client"], chain["refresh"])
                except httpx.ConnectError:
                    continue  # never reached a server: route elsewhere
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    chain["retried_in_flight"] += 1  # in flight when the process died: retry elsewhere
                    continue
            return None

        def drive(index: int) -> None:
            chain = chains[index]
            for step in range(25):
                response = send(index + step, chain)
                if response is None or response.status_code != 200:
                    with lock:
                        failures.append(f"chain {index} step {step}: {response and response.status_code}")
                    return
                chain["refresh"] = response.json()["refresh_token"]
                chain["rotations"] += 1
                if step == 8:
                    halfway.set()

        threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(chains))]
        for thread in threads:
            thread.start()
        assert halfway.wait(60)
        processes[2].send_signal(signal.SIGKILL)
        with lock:
            alive.remove(bases[2])
        for thread in threads:
            thread.join(120)
        assert failures == []
        for index, chain in enumerate(chains):  # no data lost: every chain's newest token still works
            assert chain["rotations"] == 25
            assert _refresh(bases[index % 2], chain["client"], chain["refresh"]).status_code == 200
