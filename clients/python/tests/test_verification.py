"""Every rejection path, with crafted tokens against a real key server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from conftest import KeyServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from identity_client import AsyncTokenVerifier, ExpiredToken, InsufficientLevel, InvalidToken, TokenVerifier


def _verifier(server: KeyServer, **options: object) -> TokenVerifier:
    return TokenVerifier(server.base_url, audience="client-1", **options)  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_valid_access_token_gives_a_typed_immutable_identity(key_server: KeyServer) -> None:
    identity = _verifier(key_server).verify_access_token(key_server.sign(citizen_id="001190000001"))
    assert identity.subject == "sub-1" and identity.level == 1 and identity.citizen_id == "001190000001"
    with pytest.raises(AttributeError):
        identity.subject = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        identity.claims["sub"] = "x"  # type: ignore[index]


def test_es256_tokens_verify(key_server: KeyServer) -> None:
    assert _verifier(key_server).verify_access_token(key_server.sign(alg="ES256")).subject == "sub-1"


def test_alg_none_is_rejected(key_server: KeyServer) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": "rsa-1", "typ": "at+jwt"}).encode())
    payload = _b64(json.dumps({"iss": key_server.base_url, "sub": "x", "aud": "client-1",
                               "exp": int(time.time()) + 60, "iat": int(time.time())}).encode())
    with pytest.raises(InvalidToken, match="not allowed"):
        _verifier(key_server).verify_access_token(f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_is_rejected(key_server: KeyServer) -> None:
    pem = key_server.rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "at+jwt"}).encode())
    payload = _b64(json.dumps({"iss": key_server.base_url, "sub": "x", "aud": "client-1",
                               "exp": int(time.time()) + 60, "iat": int(time.time())}).encode())
    signature = _b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken, match="not allowed"):
        _verifier(key_server).verify_access_token(f"{header}.{payload}.{signature}")


def test_unknown_kid_is_rejected(key_server: KeyServer) -> None:
    with pytest.raises(InvalidToken, match="unknown signing key"):
        _verifier(key_server).verify_access_token(key_server.sign(kid="nope"))


@pytest.mark.parametrize("kid", ["../../etc/passwd", "http://evil.example/key", "rsa-1/../x", "a" * 200])
def test_kid_injection_is_only_ever_a_dictionary_miss(key_server: KeyServer, kid: str) -> None:
    with pytest.raises(InvalidToken):
        _verifier(key_server).verify_access_token(key_server.sign(kid=kid))


@pytest.mark.parametrize("header", [{"jku": "https://evil.example/jwks"}, {"x5u": "https://evil.example/cert"}])
def test_jku_x5u_and_embedded_jwk_are_ignored(key_server: KeyServer, header: dict[str, str]) -> None:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(__import__("jwt").algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    token = key_server.sign(key=attacker, headers={**header, "jwk": public_jwk})
    with pytest.raises(InvalidToken, match="signature"):
        _verifier(key_server).verify_access_token(token)


@pytest.mark.parametrize(("claims", "message"), [
    ({"iss": "https://other.example"}, "issuer"),
    ({"aud": "client-2"}, "audience"),
    ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ({"iat": int(time.time()) + 3600}, "not yet valid"),
])
def test_wrong_claims_are_rejected(key_server: KeyServer, claims: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        _verifier(key_server).verify_access_token(key_server.sign(**claims))


def test_expired_token_raises_expired_token(key_server: KeyServer) -> None:
    token = key_server.sign(exp=int(time.time()) - 120, iat=int(time.time()) - 600)
    with pytest.raises(ExpiredToken):
        _verifier(key_server).verify_access_token(token)


def test_small_clock_skew_is_tolerated(key_server: KeyServer) -> None:
    _verifier(key_server, leeway=30).verify_access_token(key_server.sign(exp=int(time.time()) - 5))


def test_wrong_typ_is_rejected(key_server: KeyServer) -> None:
    with pytest.raises(InvalidToken, match="at\\+jwt"):
        _verifier(key_server).verify_access_token(key_server.sign(typ="JWT"))
    with pytest.raises(InvalidToken, match="not an ID token"):
        _verifier(key_server).verify_id_token(key_server.sign(typ="at+jwt"))


def test_nonce_must_match_for_id_tokens(key_server: KeyServer) -> None:
    token = key_server.sign(typ="JWT", nonce="n-1")
    verifier = _verifier(key_server)
    assert verifier.verify_id_token(token, nonce="n-1").subject == "sub-1"
    with pytest.raises(InvalidToken, match="nonce"):
        verifier.verify_id_token(token, nonce="n-2")  # also on the cached path


def test_level_1_token_where_level_2_is_required(key_server: KeyServer) -> None:
    verifier = _verifier(key_server)
    with pytest.raises(InsufficientLevel) as error:
        verifier.verify_access_token(key_server.sign(), level=2)
    assert (error.value.required, error.value.actual) == (2, 1)
    assert verifier.verify_access_token(key_server.sign(acr="urn:eid:vn:level2"), level=2).level == 2


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!!.@@@.###", "eyJhbGciOiJSUzI1NiJ9.e30.",
                                   "a" * 20_000, "eyJ" + "A" * 50 + ".e30.sig"])
def test_truncated_non_base64_and_huge_tokens_are_invalid(key_server: KeyServer, token: str) -> None:
    with pytest.raises(InvalidToken):
        _verifier(key_server).verify_access_token(token)


def test_error_messages_never_echo_the_token(key_server: KeyServer) -> None:
    token = key_server.sign(aud="client-2")
    with pytest.raises(InvalidToken) as error:
        _verifier(key_server).verify_access_token(token)
    assert token not in str(error.value) and token.split(".")[1] not in str(error.value)


def test_verifier_refuses_symmetric_or_none_algorithms() -> None:
    with pytest.raises(ValueError):
        TokenVerifier("https://id.example", "c", algorithms=("HS256",))
    with pytest.raises(ValueError):
        TokenVerifier("https://id.example", "c", algorithms=("none",))


def test_same_token_again_does_not_redo_the_work_but_never_past_exp(key_server: KeyServer) -> None:
    verifier = _verifier(key_server)
    token = key_server.sign(exp=int(time.time()) + 2)
    first = verifier.verify_access_token(token)
    assert verifier.verify_access_token(token) is first  # served from the cache
    verifier.verified.get("access_token", token)
    while time.time() < first.expires_at:
        time.sleep(0.05)
    assert verifier.verified.get("access_token", token) is None  # never used at or after exp


def test_unknown_kid_flood_refreshes_the_jwks_at_most_once_per_interval(key_server: KeyServer) -> None:
    verifier = _verifier(key_server, min_refresh_interval=3600)
    verifier.verify_access_token(key_server.sign())
    baseline = key_server.jwks_requests
    for i in range(50):
        with pytest.raises(InvalidToken):
            verifier.verify_access_token(key_server.sign(kid=f"forged-{i}"))
    assert key_server.jwks_requests - baseline <= 1


def test_a_rotated_key_is_fetched_when_first_seen(key_server: KeyServer) -> None:
    verifier = _verifier(key_server, min_refresh_interval=0)
    verifier.verify_access_token(key_server.sign())
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(__import__("jwt").algorithms.RSAAlgorithm.to_jwk(new_key.public_key()))
    jwk.update(kid="rsa-2", alg="RS256", use="sig")
    key_server.extra_keys.append(jwk)
    assert verifier.verify_access_token(key_server.sign(kid="rsa-2", key=new_key)).subject == "sub-1"


def test_provider_down_with_a_warm_cache_keeps_verifying(key_server: KeyServer) -> None:
    verifier = _verifier(key_server, min_refresh_interval=0)
    verifier.verify_access_token(key_server.sign(jti="a"))
    key_server.down = True
    verifier.keys.expires_at = 0  # the cache is stale and the provider is down
    assert verifier.verify_access_token(key_server.sign(jti="b")).subject == "sub-1"


def test_cache_control_max_age_is_honoured(key_server: KeyServer) -> None:
    key_server.cache_control = "public, max-age=3600"
    verifier = _verifier(key_server)
    verifier.verify_access_token(key_server.sign())
    assert verifier.keys.expires_at - time.monotonic() > 3000


def test_threads_share_one_verifier_safely(key_server: KeyServer) -> None:
    import threading

    verifier = _verifier(key_server)
    tokens = [key_server.sign(jti=str(i)) for i in range(20)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for token in tokens:
                verifier.verify_access_token(token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


async def _async_checks(server: KeyServer) -> None:
    verifier = AsyncTokenVerifier(server.base_url, audience="client-1")
    identity = await verifier.verify_access_token(server.sign(acr="urn:eid:vn:level2"), level=2)
    assert identity.level == 2
    with pytest.raises(InvalidToken):
        await verifier.verify_access_token(server.sign(kid="nope"))
    await verifier.aclose()


def test_async_verifier(key_server: KeyServer) -> None:
    import asyncio

    asyncio.run(_async_checks(key_server))
