"""SDK verification speed: cold (full check) and warm (cached) verifications per second, next to the raw
``cryptography`` RSA verify rate measured in the same run.

    .venv/bin/python bench/sdk_verify.py
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from identity_client import TokenVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def rate(fn: Callable[[], Any], seconds: float = 2.0) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k", alg="RS256", use="sig")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [jwk]}, headers={"Cache-Control": "max-age=3600"})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)

    now = int(time.time())
    tokens = [jwt.encode({"iss": issuer, "sub": f"s{i}", "aud": "c", "iat": now, "exp": now + 3600,
                          "acr": "urn:eid:vn:level1"}, key, algorithm="RS256", headers={"kid": "k", "typ": "at+jwt"})
              for i in range(200_000)]
    message, signature = b"x" * 300, key.sign(b"x" * 300, padding.PKCS1v15(), hashes.SHA256())
    public = key.public_key()
    raw = rate(lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()))

    cold_verifier = TokenVerifier(issuer, audience="c", cache_size=0)
    cold_verifier.verify_access_token(tokens[0])  # discovery + JWKS once
    iterator = iter(tokens)
    cold = rate(lambda: cold_verifier.verify_access_token(next(iterator)))
    warm_verifier = TokenVerifier(issuer, audience="c")
    warm_verifier.verify_access_token(tokens[0])
    warm = rate(lambda: warm_verifier.verify_access_token(tokens[0]))
    pyjwt = rate(lambda: jwt.decode(tokens[1], public, algorithms=["RS256"], audience="c", issuer=issuer))
    print(f"raw cryptography RS256 verify : {raw:>10,.0f} /s")
    print(f"pyjwt.decode (RS256)          : {pyjwt:>10,.0f} /s")
    print(f"SDK cold verification         : {cold:>10,.0f} /s  ({cold / raw:.0%} of raw verify)")
    print(f"SDK warm (cached) verification: {warm:>10,.0f} /s  ({warm / raw:.1f}x raw verify)")
    server.should_exit = True


if __name__ == "__main__":
    main()
