"""Signing keys stay private and are published correctly; client secrets are stored hashed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

from identity_service.oidc.claims import pairwise_subject
from identity_service.security.client_secrets import (
    hash_client_secret,
    new_client_secret,
    verify_client_secret,
)
from identity_service.security.keys import UnusableKey, ensure_development_key, generate_key, load_keys


def test_development_key_is_generated_with_mode_0600(tmp_path: Path) -> None:
    keys = ensure_development_key(tmp_path / "keys")
    files = list((tmp_path / "keys").glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert keys.active.alg == "RS256"
    assert files[0].stem == keys.active.kid


def test_second_start_reuses_the_existing_key(tmp_path: Path) -> None:
    first = ensure_development_key(tmp_path)
    second = ensure_development_key(tmp_path)
    assert first.active.kid == second.active.kid


def test_jwks_publishes_public_parts_only_with_kid_alg_use(tmp_path: Path) -> None:
    generate_key(tmp_path, "RS256")
    generate_key(tmp_path, "ES256")
    keys = load_keys(tmp_path)
    jwks = json.loads(keys.jwks_json)
    assert {k["alg"] for k in jwks["keys"]} == {"RS256", "ES256"}
    for jwk in jwks["keys"]:
        assert jwk["use"] == "sig" and jwk["kid"]
        assert "d" not in jwk and "p" not in jwk  # no private material
    assert keys.active.alg == "RS256"


def test_tokens_signed_with_the_active_key_verify_with_the_published_jwk(tmp_path: Path) -> None:
    keys = ensure_development_key(tmp_path)
    token = jwt.encode({"x": 1}, keys.active.private_key, algorithm="RS256", headers={"kid": keys.active.kid})
    published = jwt.PyJWK(json.loads(keys.jwks_json)["keys"][0])
    assert jwt.decode(token, published.key, algorithms=["RS256"]) == {"x": 1}


def test_world_readable_key_is_refused(tmp_path: Path) -> None:
    key = generate_key(tmp_path, "RS256")
    (tmp_path / f"{key.kid}.pem").chmod(0o644)
    with pytest.raises(UnusableKey, match="chmod 600"):
        load_keys(tmp_path)


def test_empty_key_directory_is_an_error_outside_development(tmp_path: Path) -> None:
    with pytest.raises(UnusableKey):
        load_keys(tmp_path)


def test_client_secret_is_stored_hashed_and_verified_in_constant_time() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert secret not in stored
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)
    assert not verify_client_secret(secret, "garbage")
    assert not verify_client_secret(secret, None)
    assert hash_client_secret(secret) != stored  # salted


def test_pairwise_subjects_differ_per_sector_and_are_stable() -> None:
    a1 = pairwise_subject("salt", "hospital.example", "acc1")
    assert a1 == pairwise_subject("salt", "hospital.example", "acc1")
    assert a1 != pairwise_subject("salt", "portal.example", "acc1")
    assert a1 != pairwise_subject("other-salt", "hospital.example", "acc1")
