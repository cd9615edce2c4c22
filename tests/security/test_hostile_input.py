"""Hostile input: random parameters on the form and token endpoints never produce a 500, oversized
bodies are refused before they are read, and no PII or secret reaches the logs."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import PASSWORD, Harness
from tests.html_forms import form_posting_to

text = st.text(min_size=0, max_size=300)
names = st.sampled_from(["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret",
                         "refresh_token", "scope", "client_assertion", "client_assertion_type", "token",
                         "token_type_hint", "response_type", "state", "nonce", "prompt", "max_age", "claims",
                         "request_uri", "code_challenge", "code_challenge_method", "id_token_hint", "login_hint",
                         "response_mode", "ui_locales", "x"])
params = st.lists(st.tuples(names, text), max_size=12)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(pairs=params)
def test_token_introspection_revocation_and_par_never_fail_with_500(
    harness: Harness, pairs: list[tuple[str, str]]
) -> None:
    for path in ("/token", "/introspect", "/revoke", "/par"):
        response = harness.client.post(path, data=pairs)
        assert response.status_code < 500, (path, pairs, response.text)
        assert response.headers["content-type"].startswith("application/json")


@FUZZ
@given(pairs=params)
def test_authorization_endpoint_never_fails_with_500(harness: Harness, pairs: list[tuple[str, str]]) -> None:
    pairs = [*pairs, ("client_id", harness.client_id)]
    response = harness.client.get("/authorize?" + urlencode(pairs), follow_redirects=False)
    assert response.status_code < 500, (pairs, response.text)


def test_a_nul_byte_in_a_client_id_names_no_client(harness: Harness) -> None:
    """PostgreSQL text cannot hold NUL: the lookup must answer "no such client", not a 500."""
    authorize = harness.client.get("/authorize?" + urlencode([("client_id", "\x00"), ("response_type", "code")]),
                                   follow_redirects=False)
    token = harness.client.post("/token", data={"grant_type": "client_credentials"}, auth=("a\x00b", "secret"))
    in_body = harness.client.post("/token", data={"grant_type": "client_credentials", "client_id": "\x00"})
    assert authorize.status_code == 400
    assert token.status_code == in_body.status_code == 401 and token.json()["error"] == "invalid_client"


@FUZZ
@given(cccd=text, password=text, req=text)
def test_login_form_never_fails_with_500(harness: Harness, cccd: str, password: str, req: str) -> None:
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    response = harness.client.post("/login", data={**form.fields, "cccd": cccd, "password": password, "req": req},
                                   follow_redirects=False)
    assert response.status_code < 500


def test_oversized_bodies_are_refused_with_413(harness: Harness) -> None:
    response = harness.client.post("/token", content=b"a=" + b"x" * 70_000,
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert harness.client.post("/api/enrollment", content=b"[" + b"1," * 40_000 + b"1]",
                               headers={"content-type": "application/json"}).status_code == 413


def test_no_pii_or_secret_in_the_logs_of_a_full_flow(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code, verifier = harness.obtain_code()
    tokens = harness.exchange(code, verifier).json()
    harness.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    harness.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                        auth=(harness.client_id, harness.client_secret))
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    harness.client.post("/login", data={**form.fields, "cccd": harness.cccd, "password": "wrong-password-xyz"})
    server_side = ("identity_service", "authlib", "uvicorn", "sqlalchemy", "starlette", "fastapi", "passlib")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(server_side))
    for secret in (harness.cccd, PASSWORD, "wrong-password-xyz", harness.client_secret, tokens["access_token"],
                   tokens["refresh_token"], code, "Nguyễn Thị Lan", "+84912345678"):
        assert secret not in logged, f"found {secret[:6]}… in the logs"
    assert not re.search(r"\b\d{12}\b", logged), "a 12-digit number (CCCD?) was logged"
