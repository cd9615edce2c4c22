"""Authorization codes: short-lived, single-use, kept in the ephemeral store under their hash.

RFC 6749 §4.1.2: a code used twice is refused and the tokens issued from it are revoked.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from authlib.oidc.core import AuthorizationCodeMixin

from identity_service.storage.ephemeral import EphemeralStore, Put

_CODES = "code"
_USED = "code_used"
_REPLAYED = "code_replayed"
_USED_MEMORY_SECONDS = 600


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    client_id: str
    account_id: str
    redirect_uri: str
    scope: str
    auth_time: int
    acr: str
    sid: str
    amr: list[str] = field(default_factory=list)
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    code_hash: str = ""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


def save_code(store: EphemeralStore, code: str, record: AuthorizationCode, ttl: int) -> None:
    data = asdict(record)
    data.pop("code_hash")
    store.put(_CODES, _key(code), data, ttl)


def take_code(store: EphemeralStore, code: str) -> AuthorizationCode | None:
    """Return the code's record exactly once; later calls get None (and see :func:`was_used`)."""
    key = _key(code)
    # The used marker goes with the take, in one round trip. Only if absent: a replay must keep the
    # marker that names the tokens issued from the first use. (A code that never existed leaves an
    # empty marker; only an authenticated client reaches this, within its rate limit.)
    data = store.take_and_add(_CODES, key, Put(_USED, key, {"access_token_jti": None, "family": None},
                                               _USED_MEMORY_SECONDS))
    if data is None:
        return None
    return AuthorizationCode(code_hash=key, **data)


def tokens_from_code(code_hash: str, access_token_jti: str, family: str | None) -> Put:
    """The used-code record naming what was issued from it (stored with the token response's other
    records), so that a replay can revoke them."""
    return Put(_USED, code_hash, {"access_token_jti": access_token_jti, "family": family}, _USED_MEMORY_SECONDS)


def used_code_record(store: EphemeralStore, code: str) -> dict[str, Any] | None:
    """What was issued from a code that has already been redeemed, if it was.

    A replay can arrive while the first exchange is still issuing (the used marker does not name
    the tokens yet): it then flags the code and looks again. The first exchange stores what it issued
    and then checks the flag (:func:`replayed_while_issuing`). Whichever order the four steps run in,
    one side sees the other, so the tokens of a replayed code are always revoked (RFC 6749 §4.1.2).
    """
    key = _key(code)
    used = store.get(_USED, key)
    if used is not None and not used.get("access_token_jti"):
        store.put(_REPLAYED, key, {}, _USED_MEMORY_SECONDS)
        used = store.get(_USED, key)
    return used


def replayed_while_issuing(store: EphemeralStore, records: list[Put]) -> dict[str, Any] | None:
    """After an exchange stored its records: what it issued, if a replay flagged its code meanwhile."""
    for put in records:
        if put.namespace == _USED and store.get(_REPLAYED, put.key) is not None:
            return put.value
    return None
