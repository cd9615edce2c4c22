"""Interop with panva's openid-client for Node.js (OpenID Certified RP library, nobody here wrote it):
code + PKCE, ID token validation, userinfo, refresh, introspection and revocation — with a client
secret, with private_key_jwt, and through PAR."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to
from tests.live_provider import Provider

NODE_DIR = Path(__file__).parent / "node"
REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "sông-hồng-mùa-nước-nổi"


def _require_node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openid-client").exists():
        raise RuntimeError("node and tests/interop/node/node_modules are required: scripts/test.sh runs npm ci")
    return node


def _browser_login(provider: Provider, authorization_url: str, cccd: str) -> str:
    browser = httpx.Client(follow_redirects=False)
    response = browser.get(authorization_url)
    assert response.status_code == 303, response.text
    page = browser.get(provider.base_url + response.headers["location"])
    form = form_posting_to(page.text, "/login")
    response = browser.post(provider.base_url + "/login", data={**form.fields, "cccd": cccd, "password": PASSWORD})
    page = browser.get(provider.base_url + response.headers["location"])
    form = form_posting_to(page.text, "/consent")
    response = browser.post(provider.base_url + "/consent", data={**form.fields, "decision": "allow"})
    browser.close()
    location: str = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    return location


def _run_rp(provider: Provider, cccd: str, config: dict[str, Any]) -> dict[str, Any]:
    process = subprocess.Popen([_require_node(), str(NODE_DIR / "rp.mjs"), json.dumps(config)], cwd=NODE_DIR,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    first = json.loads(process.stdout.readline() or "{}")
    if "authorization_url" not in first:
        process.kill()
        raise AssertionError(f"openid-client failed before authorization: {first} {process.stderr.read()}")
    process.stdin.write(_browser_login(provider, first["authorization_url"], cccd) + "\n")
    process.stdin.flush()
    output, errors = process.communicate(timeout=60)
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    assert process.returncode == 0, f"{result} {errors}"
    return result


@pytest.fixture
def citizen_cccd(provider: Provider) -> str:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    return citizen.cccd


def _assert_full_flow(result: dict[str, Any], cccd: str, provider: Provider) -> None:
    assert result["claims"]["iss"] == provider.base_url
    assert result["claims"]["citizen_id"] == cccd
    assert result["userinfo"]["sub"] == result["claims"]["sub"]
    assert result["refreshed"]["rotated"] is True
    assert result["introspection_active"] is True
    assert result["active_after_revocation"] is False  # revoking the refresh token killed its access token


def test_openid_client_code_flow_with_client_secret(provider: Provider, citizen_cccd: str) -> None:
    client_id, secret = make_client(provider.engine, REDIRECT_URI, scopes="openid profile citizen_id")
    result = _run_rp(provider, citizen_cccd, {"issuer": provider.base_url, "client_id": client_id,
                                              "client_secret": secret, "redirect_uri": REDIRECT_URI,
                                              "scope": "openid profile citizen_id"})
    _assert_full_flow(result, citizen_cccd, provider)


def test_openid_client_with_par_and_private_key_jwt(provider: Provider, citizen_cccd: str) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private))
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    private_jwk.update(kid="rp-key", alg="RS256")
    public_jwk.update(kid="rp-key", alg="RS256", use="sig")
    client_id, _ = make_client(provider.engine, REDIRECT_URI, scopes="openid profile citizen_id",
                               auth_method="private_key_jwt", jwks={"keys": [public_jwk]})
    result = _run_rp(provider, citizen_cccd, {"issuer": provider.base_url, "client_id": client_id,
                                              "private_jwk": private_jwk, "redirect_uri": REDIRECT_URI,
                                              "scope": "openid profile citizen_id", "use_par": True})
    _assert_full_flow(result, citizen_cccd, provider)
