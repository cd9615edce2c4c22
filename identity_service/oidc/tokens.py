"""ID tokens and JWT access tokens (RFC 9068), signed with the process's cached active key."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from identity_service.config import Settings
from identity_service.oidc.claims import subject_for, user_claims
from identity_service.security.keys import KeyRing
from identity_service.storage.ephemeral import EphemeralStore, Put
from identity_service.storage.models import Account, Citizen, Client

ACCESS_TOKENS = "at"
REVOKED_FAMILIES = "family_revoked"
# Per (client, subject): access tokens issued at or before this time are void (consent withdrawal).
ACCESS_TOKEN_CUTOFFS = "at_cutoff"
# A jti is "<nonce>" or "<nonce>.<refresh-token family>": verification then derives every key it must
# read (the record, the family's revocation marker, the cut-off) from the signed token alone, and reads
# them in one pipelined round trip with no server-side script (works on Redis Cluster too).
_FAMILY_SEPARATOR = "."


@dataclass(frozen=True)
class IssuedAccessToken:
    """A signed access token and the record the caller must store with the response (``record``):
    the endpoint writes it together with its other state in one round trip."""

    token: str
    jti: str
    record: Put


@dataclass(frozen=True)
class AccessTokenState:
    """What the ephemeral store says about a verified access token's claims."""

    claims: dict[str, Any]
    record: dict[str, Any]


@dataclass(frozen=True)
class AuthContext:
    """How and when the citizen authenticated in the browser session behind a token."""

    account_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str


@dataclass(frozen=True)
class TokenSubject:
    """The account a token is issued for, with its registry entry (for claims)."""

    account: Account
    citizen: Citizen

    def get_user_id(self) -> str:
        return self.account.id


def at_hash(access_token: str, alg: str) -> str:
    """OIDC Core §3.1.3.6: left half of the hash of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class TokenIssuer:
    """Signs tokens and records access tokens so userinfo and revocation can find them."""

    def __init__(self, settings: Settings, keys: KeyRing, store: EphemeralStore, pairwise_salt: str) -> None:
        self._settings = settings
        self._keys = keys
        self._store = store
        self._salt = pairwise_salt

    def subject(self, client: Client, account_id: str) -> str:
        return subject_for(client, account_id, self._salt)

    def _sign(self, claims: dict[str, Any], alg: str, typ: str) -> str:
        key = self._keys.active_for(alg)
        return jwt.encode(claims, key.private_key, algorithm=alg, headers={"kid": key.kid, "typ": typ})

    def access_token(self, client: Client, ctx: AuthContext, scope: str,
                     family: str | None = None) -> IssuedAccessToken:
        """A signed token and its record (to keep for ``expires_in`` seconds).

        ``family`` ties it to the refresh-token family it came with: revoking the family revokes it.
        """
        issued_at = time.time()  # in the record, to the microsecond: a cut-off voids exactly the earlier tokens
        now = int(issued_at)
        jti = secrets.token_urlsafe(16) + (_FAMILY_SEPARATOR + family if family else "")
        claims = {
            "iss": self._settings.issuer,
            "sub": self.subject(client, ctx.account_id),
            "aud": client.client_id,
            "client_id": client.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self._settings.access_token_ttl,
            "jti": jti,
            "auth_time": ctx.auth_time,
            "acr": ctx.acr,
            "amr": list(ctx.amr),
            "sid": ctx.sid,
        }
        token = self._sign(claims, self._settings.access_token_alg, "at+jwt")
        record = Put(ACCESS_TOKENS, jti, {"account_id": ctx.account_id, "client_id": client.client_id, "scope": scope,
                                          "sid": ctx.sid, "family": family, "exp": claims["exp"],
                                          "issued_at": issued_at},
                     self._settings.access_token_ttl)
        return IssuedAccessToken(token, jti, record)

    def client_access_token(self, client: Client, scope: str) -> IssuedAccessToken:
        """A token for the client itself (client_credentials): ``sub`` is the client, no citizen."""
        issued_at = time.time()
        now = int(issued_at)
        jti = secrets.token_urlsafe(16)
        claims = {"iss": self._settings.issuer, "sub": client.client_id, "aud": client.client_id,
                  "client_id": client.client_id, "scope": scope, "iat": now,
                  "exp": now + self._settings.access_token_ttl, "jti": jti}
        token = self._sign(claims, self._settings.access_token_alg, "at+jwt")
        record = Put(ACCESS_TOKENS, jti, {"account_id": None, "client_id": client.client_id, "scope": scope,
                                          "sid": None, "family": None, "exp": claims["exp"],
                                          "issued_at": issued_at},
                     self._settings.access_token_ttl)
        return IssuedAccessToken(token, jti, record)

    def id_token(
        self,
        client: Client,
        subject: TokenSubject,
        ctx: AuthContext,
        scope: str,
        nonce: str | None,
        access_token: str | None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = user_claims(subject.account, subject.citizen, set(scope.split()))
        claims.update(
            iss=self._settings.issuer,
            sub=self.subject(client, ctx.account_id),
            aud=client.client_id,
            azp=client.client_id,
            iat=now,
            exp=now + self._settings.id_token_ttl,
            auth_time=ctx.auth_time,
            acr=ctx.acr,
            amr=list(ctx.amr),
            sid=ctx.sid,
        )
        if nonce:
            claims["nonce"] = nonce
        alg = client.id_token_signed_response_alg or "RS256"
        if access_token:
            claims["at_hash"] = at_hash(access_token, alg)  # SHA-256 for both RS256 and ES256
        return self._sign(claims, alg, "JWT")

    def verify_id_token_hint(self, token: str, client_id: str | None) -> dict[str, Any] | None:
        """An ID token this issuer signed (for ``client_id`` when given); expiry is ignored
        (OIDC Core §3.1.2.1, RP-Initiated Logout §2)."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.by_kid(str(header.get("kid", "")))
            if key is None or header.get("alg") != key.alg:
                return None
            claims: dict[str, Any] = jwt.decode(token, key.public_key, algorithms=[key.alg],
                                                audience=client_id, issuer=self._settings.issuer,
                                                options={"verify_exp": False, "require": ["sub", "aud"],
                                                         "verify_aud": client_id is not None})
        except jwt.PyJWTError:
            return None
        return claims

    def revoke_access_token(self, jti: str) -> None:
        self._store.delete(ACCESS_TOKENS, jti)

    def cut_off_access_tokens(self, client: Client, account_id: str) -> None:
        """Void every access token issued so far to ``client`` for the account (consent withdrawal),
        whether or not it came with a refresh token. Kept as long as such a token can live."""
        self._store.put(ACCESS_TOKEN_CUTOFFS, _cutoff_key(client.client_id, self.subject(client, account_id)),
                        {"at": time.time()}, self._settings.access_token_ttl + 60)

    def decode_access_token(self, token: str) -> dict[str, Any] | None:
        """Signature, ``typ``, issuer and expiry (CPU only); the claims, or None."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "at+jwt":
                return None
            key = self._keys.by_kid(str(header.get("kid", "")))
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                issuer=self._settings.issuer,
                options={"require": ["exp", "iat", "jti", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        return claims

    @staticmethod
    def state_keys(claims: dict[str, Any]) -> list[tuple[str, str]]:
        """The ephemeral keys that decide whether decoded ``claims`` are still good, in the order
        :meth:`check_state` expects their values: the record, the (client, subject) cut-off and, for
        a token issued with a refresh token, its family's revocation marker."""
        jti = str(claims["jti"])
        keys = [(ACCESS_TOKENS, jti), (ACCESS_TOKEN_CUTOFFS, _cutoff_key(str(claims.get("client_id")),
                                                                          str(claims["sub"])))]
        _, separator, family = jti.partition(_FAMILY_SEPARATOR)
        if separator:
            keys.append((REVOKED_FAMILIES, family))
        return keys

    @staticmethod
    def check_state(claims: dict[str, Any], values: list[dict[str, Any] | None]) -> AccessTokenState | None:
        """Not revoked (its record exists), not issued before a cut-off, its family not revoked."""
        record, cutoff, *family_revoked = values
        if record is None:
            return None
        # A record written before issued_at existed falls back to iat (whole seconds: errs on revoking).
        if cutoff is not None and float(record.get("issued_at", claims["iat"])) <= float(cutoff["at"]):
            return None
        if any(marker is not None for marker in family_revoked):
            return None
        return AccessTokenState(claims, record)

    def verify_access_token_blocking(self, token: str) -> AccessTokenState | None:
        """:meth:`verify_access_token` for threadpool code (revocation, the introspection fallback)."""
        claims = self.decode_access_token(token)
        if claims is None:
            return None
        values = [self._store.get(namespace, key) for namespace, key in self.state_keys(claims)]
        state = self.check_state(claims, values)
        family = _family_not_in_jti(state)
        if family is not None and self._store.get(REVOKED_FAMILIES, family) is not None:
            return None
        return state

    async def verify_access_token(self, token: str) -> AccessTokenState | None:
        """Signature, issuer, expiry, and that it was not revoked: one round trip to the store."""
        claims = self.decode_access_token(token)
        if claims is None:
            return None
        state = self.check_state(claims, await self._store.get_many(self.state_keys(claims)))
        family = _family_not_in_jti(state)
        if family is not None and (await self._store.get_many([(REVOKED_FAMILIES, family)]))[0] is not None:
            return None
        return state


def _family_not_in_jti(state: AccessTokenState | None) -> str | None:
    """The family of a token issued before jtis carried it (records live ``access_token_ttl``, so only
    just after an upgrade): its marker needs a second read."""
    if state is None or not state.record.get("family"):
        return None
    family = str(state.record["family"])
    return None if str(state.claims["jti"]).endswith(_FAMILY_SEPARATOR + family) else family


def _cutoff_key(client_id: str, subject: str) -> str:
    return f"{client_id}|{subject}"
