"""Why client secrets use a salted HMAC and not a password hash: verifications per second per core.

    .venv/bin/python bench/client_secret_hash.py
"""

from __future__ import annotations

import time

from identity_service.security.client_secrets import hash_client_secret, new_client_secret, verify_client_secret
from identity_service.security.passwords import PasswordHasher


def rate(fn: object, seconds: float = 2.0) -> float:
    assert callable(fn)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    argon = PasswordHasher()
    argon_hash = argon.hash(secret)
    hmac_rate = rate(lambda: verify_client_secret(secret, stored))
    argon_rate = rate(lambda: argon.verify(secret, argon_hash))
    print(f"salted HMAC-SHA256 verify : {hmac_rate:>12,.0f} /s per core")
    print(f"argon2id (OWASP) verify   : {argon_rate:>12,.1f} /s per core")
    print(f"ratio                     : {hmac_rate / argon_rate:>12,.0f}x")


if __name__ == "__main__":
    main()
