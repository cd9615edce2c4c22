"""argon2id hashing through passlib (libpass) and the NIST SP 800-63B password policy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret
from hypothesis import given, settings
from hypothesis import strategies as st
from passlib.hash import argon2

from identity_service.security.passwords import PasswordHasher, _sodium_verify, check_password_policy
from tests.factories import FAST_HASHER


def test_default_parameters_are_owasp_argon2id() -> None:
    hashed = PasswordHasher().hash("một câu mật khẩu dài")
    assert hashed.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in hashed


def test_verify_accepts_the_password_and_rejects_others() -> None:
    hashed = FAST_HASHER.hash("hoa-sen-nở-giữa-mùa-hạ")
    assert FAST_HASHER.verify("hoa-sen-nở-giữa-mùa-hạ", hashed)
    assert not FAST_HASHER.verify("hoa-sen-no-giua-mua-ha", hashed)
    assert not FAST_HASHER.verify("anything", "not-a-hash")


def test_hashes_are_salted() -> None:
    assert FAST_HASHER.hash("same password") != FAST_HASHER.hash("same password")


def test_weaker_parameters_need_rehash_under_the_default_policy() -> None:
    assert PasswordHasher().needs_rehash(FAST_HASHER.hash("x" * 10))


def test_hashes_run_on_the_hashers_own_threads_never_more_at_once_than_it_has() -> None:
    """Many request threads at once: every hash runs on one of the hasher's ``threads`` (a bound on the
    19 MiB blocks concurrent logins can pin, and each thread keeps reusing its block)."""
    hasher = PasswordHasher(memory_kib=1024, time_cost=1, threads=2)
    hashed = hasher.hash("sông-hồng-mùa-lũ")
    callers: set[str] = set()
    hashing: set[str] = set()
    running = [0, 0]  # now, most at once
    lock = threading.Lock()
    verify = hasher._check

    def recording_verify(*args: Any) -> Any:
        with lock:
            hashing.add(threading.current_thread().name)
            running[0] += 1
            running[1] = max(running)
        try:
            return verify(*args)
        finally:
            with lock:
                running[0] -= 1

    hasher._check = recording_verify  # type: ignore[method-assign]

    def login(i: int) -> bool:
        with lock:
            callers.add(threading.current_thread().name)
        return hasher.verify("sông-hồng-mùa-lũ" if i % 2 else "wrong", hashed)

    with ThreadPoolExecutor(8, thread_name_prefix="request") as requests:
        results = list(requests.map(login, range(40)))
    assert results == [bool(i % 2) for i in range(40)]
    assert len(callers) > 2 and not hashing & callers
    assert all(name.startswith("argon2") for name in hashing) and len(hashing) <= 2
    assert running[1] <= 2


def test_standard_argon2id_hashes_can_be_verified_by_libsodium() -> None:
    assert PasswordHasher()._sodium_verifies(PasswordHasher().hash("một câu mật khẩu dài"))
    assert FAST_HASHER._sodium_verifies(FAST_HASHER.hash("x" * 10))


@settings(max_examples=40, deadline=None)
@given(memory_kib=st.integers(8, 512), time_cost=st.integers(1, 3), parallelism=st.integers(1, 4),
       salt=st.binary(min_size=8, max_size=32), digest_size=st.integers(4, 64),
       kind=st.sampled_from([Type.ID, Type.I, Type.D]), version=st.sampled_from([0x13, 0x10]),
       password=st.text(max_size=40), other=st.text(max_size=40))
def test_libsodium_and_passlib_agree_on_every_argon2_hash(memory_kib: int, time_cost: int, parallelism: int,
                                                        salt: bytes, digest_size: int, kind: Type, version: int,
                                                        password: str, other: str) -> None:
    """Whatever the argon2 reference implementation made (any type, version, parameters, salt and output
    length), libsodium answers as passlib does wherever the hasher would let it verify, for the password
    and for another one."""
    hashed = hash_secret(password.encode(), salt, time_cost, max(memory_kib, 8 * parallelism), parallelism,
                         digest_size, kind, version=version).decode()
    assert argon2.verify(password, hashed)
    if FAST_HASHER._sodium_verifies(hashed):
        assert _sodium_verify(password, hashed)
        assert _sodium_verify(other, hashed) == (other == password) == argon2.verify(other, hashed)


@pytest.mark.parametrize("sodium", [True, False])
def test_either_verifier_accepts_the_password_and_rejects_others(sodium: bool) -> None:
    """The hasher verifies with whichever of libsodium and argon2-cffi it measured faster: both work."""
    hasher = PasswordHasher(memory_kib=1024, time_cost=1, threads=1)
    hasher._use_sodium = sodium
    hashed = hasher.hash("hoa-sen-nở-giữa-mùa-hạ")
    assert hasher.verify("hoa-sen-nở-giữa-mùa-hạ", hashed)
    assert not hasher.verify("hoa-sen-no-giua-mua-ha", hashed)
    assert not hasher.verify("anything", "$argon2id$v=19$m=1024,t=1,p=1$not-base64$!")
    hasher.verify_dummy("anything")


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "too_short"),
    ("1234567", "too_short"),
    ("x" * 129, "too_long"),
    ("password", "common"),
    ("Password1", "common"),
    ("matkhau123", "common"),
    ("ANHYEUEM", "common"),
    ("iloveyou2024", "common"),
    ("aaaaaaaaaa", "repetitive"),
    ("1111111111", "common"),
    ("abcdefghij", "repetitive"),
    ("zzzzyyyyzz", "repetitive"),
])
def test_policy_refuses(password: str, problem: str) -> None:
    assert problem in check_password_policy(password)


def test_personal_data_is_refused() -> None:
    assert "contains_personal_data" in check_password_policy("toi-la-001190123456", ["001190123456"])
    assert "contains_personal_data" in check_password_policy("sinh19900517!", ["19900517"])


@pytest.mark.parametrize("password", [
    "ngựa xanh pin kẹp giấy",      # passphrase with spaces and diacritics
    "correct horse battery staple",
    "k7#Lp2qZ",                    # 8 characters, no composition rule needed
    "trời hôm nay thật đẹp và mát mẻ" * 3,
])
def test_policy_accepts_long_or_random_passwords_without_composition_rules(password: str) -> None:
    assert check_password_policy(password) == []
