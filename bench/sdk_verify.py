"""SDK verification speed: cold (full check) and warm (cached) verifications per second, next to the raw
``cryptography`` verify rate measured in the same run, for RS256 and ES256 access tokens.

    .venv/bin/python bench/sdk_verify.py

bench/run.py calls :func:`measure` and puts the figures in its JSON report.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from identity_client import TokenVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_TOKENS = 2000  # cycled by the cold verifier, which caches nothing


def rate(fn: Callable[[], Any], seconds: float = 2.0) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def _raw_verify(alg: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Callable[[], None]:
    message = b"x" * 300
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_public, rsa_signature = key.public_key(), key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return lambda: rsa_public.verify(rsa_signature, message, padding.PKCS1v15(), hashes.SHA256())
    ec_public, ec_signature = key.public_key(), key.sign(message, ec.ECDSA(hashes.SHA256()))
    return lambda: ec_public.verify(ec_signature, message, ec.ECDSA(hashes.SHA256()))


def measure(seconds: float = 2.0) -> dict[str, float]:
    """Verifications per second: raw signature check, pyjwt, SDK cold and warm, per algorithm."""
    keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }
    jwks = []
    for alg, key in keys.items():
        jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(key.public_key()))
        jwk.update(kid=alg, alg=alg, use="sig")
        jwks.append(jwk)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})

    async def jwks_endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"keys": jwks}, headers={"Cache-Control": "max-age=3600"})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks_endpoint)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    figures: dict[str, float] = {}
    try:
        for alg, key in keys.items():
            now = int(time.time())
            tokens = [jwt.encode({"iss": issuer, "sub": f"s{i}", "aud": "c", "iat": now, "exp": now + 3600,
                                  "acr": "urn:eid:vn:level1"}, key, algorithm=alg, headers={"kid": alg, "typ": "at+jwt"})
                      for i in range(_TOKENS)]
            public = key.public_key()
            figures[f"{alg} raw cryptography verify"] = rate(_raw_verify(alg, key), seconds)
            figures[f"{alg} pyjwt.decode"] = rate(
                lambda: jwt.decode(tokens[1], public, algorithms=[alg], audience="c", issuer=issuer), seconds)
            cold_verifier = TokenVerifier(issuer, audience="c", cache_size=0)
            cold_verifier.verify_access_token(tokens[0])  # discovery + JWKS once
            cycle = itertools.cycle(tokens)
            figures[f"{alg} SDK cold"] = rate(lambda: cold_verifier.verify_access_token(next(cycle)), seconds)
            warm_verifier = TokenVerifier(issuer, audience="c")
            warm_verifier.verify_access_token(tokens[0])
            figures[f"{alg} SDK warm (cached)"] = rate(lambda: warm_verifier.verify_access_token(tokens[0]), seconds)
    finally:
        server.should_exit = True
    return figures


def main() -> None:
    for name, value in measure().items():
        print(f"{name:32}: {value:>10,.0f} /s")


if __name__ == "__main__":
    main()
