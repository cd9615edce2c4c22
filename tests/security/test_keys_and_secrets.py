"""Signing keys stay private, rotate without breaking verification; client secrets are stored hashed."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest

from identity_service.oidc.claims import pairwise_subject
from identity_service.security.client_secrets import (
    hash_client_secret,
    new_client_secret,
    verify_client_secret,
)
from identity_service.security.keys import (
    KeyRing,
    UnusableKey,
    ensure_development_key,
    generate_key,
    load_keys,
    prune,
    rotate,
)


def test_development_keys_are_generated_with_mode_0600(tmp_path: Path) -> None:
    keys = ensure_development_key(tmp_path / "keys")
    files = list((tmp_path / "keys").iterdir())
    assert {p.suffix for p in files} == {".pem", ".json"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert set(keys.algorithms) == {"RS256", "ES256"}
    assert keys.active.alg == "RS256"


def test_second_start_reuses_the_existing_keys(tmp_path: Path) -> None:
    first = ensure_development_key(tmp_path)
    second = ensure_development_key(tmp_path)
    assert first.active.kid == second.active.kid
    assert len(list(tmp_path.glob("*.pem"))) == 2


def test_jwks_publishes_public_parts_only_with_kid_alg_use(tmp_path: Path) -> None:
    generate_key(tmp_path, "RS256")
    generate_key(tmp_path, "ES256")
    jwks = json.loads(load_keys(tmp_path).jwks_json)
    assert {k["alg"] for k in jwks["keys"]} == {"RS256", "ES256"}
    for jwk in jwks["keys"]:
        assert jwk["use"] == "sig" and jwk["kid"]
        assert "d" not in jwk and "p" not in jwk  # no private material


def test_tokens_signed_with_the_active_key_verify_with_the_published_jwk(tmp_path: Path) -> None:
    keys = ensure_development_key(tmp_path)
    token = jwt.encode({"x": 1}, keys.active.private_key, algorithm="RS256", headers={"kid": keys.active.kid})
    [published] = [k for k in json.loads(keys.jwks_json)["keys"] if k["kid"] == keys.active.kid]
    assert jwt.decode(token, jwt.PyJWK(published).key, algorithms=["RS256"]) == {"x": 1}


def test_rotation_publishes_the_next_key_before_it_signs(tmp_path: Path) -> None:
    old = generate_key(tmp_path, "RS256", not_before=1000.0)
    new = rotate(tmp_path, "RS256", publish_ahead=600, keep_after=900, now=2000.0)
    before = load_keys(tmp_path, now=2300.0)
    assert {k.kid for k in before.keys} == {old.kid, new.kid}  # both published
    assert before.signing_key("RS256", now=2300.0).kid == old.kid  # the old one still signs
    after = load_keys(tmp_path, now=2700.0)
    assert after.signing_key("RS256", now=2700.0).kid == new.kid
    assert old.kid in {k.kid for k in after.keys}  # its tokens still verify
    later = load_keys(tmp_path, now=2600.0 + 900 + 1)
    assert {k.kid for k in later.keys} == {new.kid}  # unpublished once its tokens have expired
    assert prune(tmp_path, now=2600.0 + 900 + 1) == [old.kid]
    assert not (tmp_path / f"{old.kid}.pem").exists()


def test_keyring_picks_up_a_rotation_without_a_restart(tmp_path: Path) -> None:
    generate_key(tmp_path, "RS256", not_before=time.time() - 10)
    ring = KeyRing(tmp_path)
    new = rotate(tmp_path, "RS256", publish_ahead=0, keep_after=60)
    ring.reload()
    assert ring.active_for("RS256").kid == new.kid
    assert len(json.loads(ring.jwks_json)["keys"]) == 2


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
