"""Token checks that need no I/O: header screening, signature and claims, levels, the result cache."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from identity_client.errors import ExpiredToken, InsufficientLevel, InvalidToken
from identity_client.identity import Identity

DEFAULT_ALGORITHMS = ("RS256", "ES256", "PS256")
MAX_TOKEN_BYTES = 16 * 1024
DEFAULT_LEVELS = {"urn:eid:vn:level1": 1, "urn:eid:vn:level2": 2}


@dataclass(frozen=True)
class Header:
    alg: str
    kid: str
    typ: str | None


def screen(token: str, algorithms: tuple[str, ...]) -> Header:
    """Reject what never needs a key lookup: size, shape, algorithm, kid. ``jku``, ``x5u``, ``jwk``
    and ``x5c`` headers are ignored: keys only ever come from the provider's JWKS."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("no token")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    if token.count(".") != 2:
        raise InvalidToken("not a compact JWS (three base64url segments)")
    # A cheap look at the header only to pick the key; pyjwt.decode re-parses and checks everything.
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed token header") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed token header")
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidToken(f"algorithm {alg!r} not allowed (allowed: {', '.join(algorithms)})")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= 128:
        raise InvalidToken("missing or invalid kid")
    typ = header.get("typ")
    return Header(alg=alg, kid=kid, typ=typ if isinstance(typ, str) else None)


def decode(token: str, key: Any, header: Header, issuer: str, audience: str | None, leeway: int) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[header.alg], issuer=issuer, audience=audience, leeway=leeway,
            options={"require": ["iss", "sub", "exp", "iat"], "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken("token expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("token not yet valid (nbf/iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token is from another issuer") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"missing claim {exc.claim}") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token ({type(exc).__name__})") from None
    return claims


def check_type(kind: str, header: Header) -> None:
    if kind == "access_token" and header.typ not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("not an access token (RFC 9068 typ at+jwt required)")
    if kind == "id_token" and header.typ not in (None, "JWT"):
        raise InvalidToken(f"not an ID token (typ {header.typ})")


def level_of(claims: dict[str, Any], levels: dict[str, int]) -> int | None:
    """The level this authentication reached (``acr``)."""
    acr = claims.get("acr")
    return levels.get(acr) if isinstance(acr, str) else None


def require_level(identity: Identity, required: int | None) -> None:
    if required is not None and (identity.level is None or identity.level < required):
        raise InsufficientLevel(required, identity.level)


def check_nonce(identity: Identity, nonce: str | None) -> None:
    if nonce is not None and identity.claims.get("nonce") != nonce:
        raise InvalidToken("nonce does not match")


class VerifiedCache:
    """Bounded LRU of verified tokens; an entry is never used at or after the token's ``exp``."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], Identity] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, token: str) -> Identity | None:
        key = (kind, token)
        with self._lock:
            identity = self._entries.get(key)
            if identity is None:
                return None
            if time.time() >= identity.expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return identity

    def put(self, kind: str, token: str, identity: Identity) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[(kind, token)] = identity
            self._entries.move_to_end((kind, token))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
