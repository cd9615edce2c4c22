"""Passwords: argon2id through passlib (libpass), and the NIST SP 800-63B §3.1.1.2 policy."""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

from nacl.bindings import crypto_pwhash_str_verify
from nacl.exceptions import InvalidkeyError
from passlib.context import CryptContext

MIN_LENGTH = 8  # NIST SP 800-63B: at least 8 characters
MAX_LENGTH = 128  # long passphrases welcome; the bound keeps hashing cheap to refuse
_COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
T = TypeVar("T")
# libsodium's crypto_pwhash_str_verify: argon2id v1.3 strings only, within these bounds.
_SODIUM_PREFIX = "$argon2id$v=19$"
_SODIUM_MAX_STRING = 127
_SODIUM_MIN_OUTPUT = 16


def _available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a cpuset), not every core of the host."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


class PasswordHasher:
    """argon2id with OWASP parameters by default (m=19 MiB, t=2, p=1).

    Hashing costs tens of milliseconds: call it from a worker thread, never the event loop. The
    hashes themselves run on this hasher's own threads, one per available CPU by default (``threads``,
    ``IDENTITY_ARGON2_THREADS``: set it to the CPU limit where a quota, not a cpuset, bounds the process):

    - argon2 allocates ``memory_kib`` per hash. Measured here, 60 verifications spread over 40
      threads (the web threadpool's size) page-faulted ~3,500 times each (glibc returns each thread
      arena's block to the kernel after the hash) and cost 29.8 ms of CPU each, against 17.6 ms and
      no faults on one thread that keeps reusing its block.
    - It bounds the memory that concurrent logins can make the process hold (``threads`` × 19 MiB),
      and more hashes at once than cores only queue inside the CPU anyway.

    passlib makes and reads the hashes (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``, the PHC string
    format) and decides when one needs rehashing; it computes them with argon2-cffi. A standard
    argon2id string (:meth:`_sodium_verifies`) can also be verified by libsodium: the same algorithm
    on the same string, with an AVX2/AVX-512 core where argon2-cffi's PyPI wheel has SSE2 only, but a
    fresh 19 MiB mapping (page faults) per hash. Which is faster depends on how argon2-cffi was built
    and on the host, so the hasher measures both at startup and verifies with the faster
    (docs/operations.md, "Hot paths": 17–19 ms against 19–22 ms for the PyPI wheel here, 10–12 ms for
    argon2-cffi built for x86-64-v3).
    """

    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1,
                 threads: int | None = None) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self._argon2 = self._context.handler("argon2")
        self._pool = ThreadPoolExecutor(max_workers=threads or _available_cpus(), thread_name_prefix="argon2")
        self._dummy = self._on_pool(self._context.hash, "dummy password for unknown accounts")
        self._use_sodium = self._sodium_is_faster()

    def _on_pool(self, operation: Callable[..., T], *args: Any) -> T:
        """Run ``operation`` on a hashing thread and wait for it (blocking the calling thread)."""
        return self._pool.submit(operation, *args).result()

    def _sodium_is_faster(self) -> bool:
        """Whether libsodium verifies this hasher's hashes with less CPU than passlib's argon2-cffi, on
        the hashing threads (best of three each, interleaved: the first hash of a thread also maps its
        block). Both give the same answers; only the cost differs."""
        def cpu_time(verify: Callable[[str, str], bool]) -> float:
            start = time.thread_time()
            verify("not the dummy password", self._dummy)
            return time.thread_time() - start

        sodium, passlib = [], []
        for _ in range(3):
            sodium.append(self._on_pool(cpu_time, _sodium_verify))
            passlib.append(self._on_pool(cpu_time, self._context.verify))
        return min(sodium) < min(passlib)

    def hash(self, password: str) -> str:
        return str(self._on_pool(self._context.hash, password))

    def verify(self, password: str, password_hash: str) -> bool:
        try:
            return self._on_pool(self._check, password, password_hash)
        except (ValueError, TypeError):
            return False

    def _check(self, password: str, password_hash: str) -> bool:
        """On a hashing thread: libsodium when it is the faster here and the hash is one it verifies
        exactly as argon2 specifies; otherwise passlib's own backend (argon2-cffi)."""
        if self._use_sodium and self._sodium_verifies(password_hash):
            return _sodium_verify(password, password_hash)
        return bool(self._context.verify(password, password_hash))

    def _sodium_verifies(self, password_hash: str) -> bool:
        """Whether libsodium verifies every hash of this shape: argon2id version 1.3, an output of at least
        16 bytes and a string of at most 127 (its limits, tighter than argon2's; its other bounds are
        argon2's own), as passlib parses it. Raises ValueError for a string passlib cannot parse."""
        if not password_hash.startswith(_SODIUM_PREFIX) or len(password_hash) > _SODIUM_MAX_STRING:
            return False
        parsed = self._argon2.from_string(password_hash)
        return len(parsed.checksum) >= _SODIUM_MIN_OUTPUT

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))

    def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real check, so unknown accounts cannot be told apart."""
        self._on_pool(self._check, password, self._dummy)


def _sodium_verify(password: str, password_hash: str) -> bool:
    """libsodium's verification of a standard argon2id string (:meth:`PasswordHasher._sodium_verifies`)."""
    try:
        return crypto_pwhash_str_verify(password_hash.encode("ascii"), password.encode("utf-8"))
    except InvalidkeyError:  # libsodium's answer for a wrong password
        return False


@cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def _is_repetitive(password: str) -> bool:
    if len(set(password)) <= 2:
        return True
    codes = [ord(c) for c in password]
    steps = {b - a for a, b in pairwise(codes)}
    return len(steps) == 1 and steps <= {1, -1}


def check_password_policy(password: str, context_words: Iterable[str] = ()) -> list[str]:
    """Problem codes (empty when acceptable): too_short, too_long, common, contains_personal_data,
    repetitive. No composition rules (NIST SP 800-63B §3.1.1.2)."""
    problems: list[str] = []
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        problems.append("too_short")
    if length > MAX_LENGTH:
        problems.append("too_long")
    normalised = _normalise(password)
    stripped = re.sub(r"[\W_]+", "", normalised)
    if normalised in _common_passwords() or stripped in _common_passwords():
        problems.append("common")
    for word in context_words:
        word = _normalise(word).strip()
        if len(word) >= 4 and (word in normalised or word in stripped):
            problems.append("contains_personal_data")
            break
    if "common" not in problems and _is_repetitive(normalised):
        problems.append("repetitive")
    return problems
