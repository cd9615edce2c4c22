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
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import Account, Citizen, Client

ACCESS_TOKENS = "at"
REVOKED_FAMILIES = "family_revoked"


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

    def access_token(self, client: Client, ctx: AuthContext, scope: str, family: str | None = None) -> tuple[str, str]:
        """Return ``(token, jti)``; the token is recorded for ``expires_in`` seconds.

        ``family`` ties it to the refresh-token family it came with: revoking the family revokes it.
        """
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
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
        self._store.put(
            ACCESS_TOKENS,
            jti,
            {"account_id": ctx.account_id, "client_id": client.client_id, "scope": scope, "sid": ctx.sid,
             "family": family, "exp": claims["exp"]},
            self._settings.access_token_ttl,
        )
        return token, jti

    def client_access_token(self, client: Client, scope: str) -> str:
        """A token for the client itself (client_credentials): ``sub`` is the client, no citizen."""
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        claims = {"iss": self._settings.issuer, "sub": client.client_id, "aud": client.client_id,
                  "client_id": client.client_id, "scope": scope, "iat": now,
                  "exp": now + self._settings.access_token_ttl, "jti": jti}
        token = self._sign(claims, self._settings.access_token_alg, "at+jwt")
        self._store.put(ACCESS_TOKENS, jti, {"account_id": None, "client_id": client.client_id, "scope": scope,
                                             "sid": None, "family": None, "exp": claims["exp"]},
                        self._settings.access_token_ttl)
        return token

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

    def verify_access_token(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Signature, issuer, expiry and that it was not revoked; returns (claims, record)."""
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
        record = self._store.get(ACCESS_TOKENS, str(claims["jti"]))
        if record is None:
            return None
        if record.get("family") and self._store.get(REVOKED_FAMILIES, str(record["family"])) is not None:
            return None
        return claims, record
