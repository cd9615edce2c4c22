"""A small key server (real HTTP, uvicorn in a thread) that plays the provider for crafted tokens."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class KeyServer:
    base_url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    jwks_requests: int = 0
    down: bool = False
    extra_keys: list[dict[str, Any]] = field(default_factory=list)
    cache_control: str = "public, max-age=300"

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk.update(kid="rsa-1", alg="RS256", use="sig")
        ec_jwk.update(kid="ec-1", alg="ES256", use="sig")
        return {"keys": [rsa_jwk, ec_jwk, *self.extra_keys]}

    def sign(self, claims: dict[str, Any] | None = None, *, alg: str = "RS256", kid: str | None = None,
             typ: str | None = "at+jwt", headers: dict[str, Any] | None = None, key: Any = None,
             **overrides: Any) -> str:
        now = int(time.time())
        body = {"iss": self.base_url, "sub": "sub-1", "aud": "client-1", "iat": now, "exp": now + 300,
                "acr": "urn:eid:vn:level1", "jti": "j1", "client_id": "client-1", "scope": "openid"}
        body.update(claims or {})
        body.update(overrides)
        header: dict[str, Any] = {"kid": kid or ("ec-1" if alg == "ES256" else "rsa-1")}
        if typ is not None:
            header["typ"] = typ
        header.update(headers or {})
        signing_key = key if key is not None else (self.ec_key if alg == "ES256" else self.rsa_key)
        return jwt.encode(body, signing_key, algorithm=alg, headers=header)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    port = _free_port()
    server_state = KeyServer(f"http://127.0.0.1:{port}", rsa.generate_private_key(public_exponent=65537, key_size=2048),
                             ec.generate_private_key(ec.SECP256R1()))

    async def discovery(request: Request) -> Response:
        if server_state.down:
            return Response(status_code=503)
        return JSONResponse({"issuer": server_state.base_url, "jwks_uri": f"{server_state.base_url}/jwks.json"})

    async def jwks(request: Request) -> Response:
        server_state.jwks_requests += 1
        if server_state.down:
            return Response(status_code=503)
        return JSONResponse(server_state.jwks(), headers={"Cache-Control": server_state.cache_control})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks.json", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield server_state
    server.should_exit = True
    thread.join(timeout=10)
