"""Refresh tokens: stored only as SHA-256 hashes, rotated on every use, reuse revokes the family.

RFC 9700 §4.14.2: a refresh token presented after it was rotated means it leaked; the whole family
(every token descended from the same authorization) is revoked. A short grace window lets the same
token arrive twice concurrently (two browser tabs) without logging the citizen out: within it the
second request gets a sibling token of the same family. The claim is one conditional UPDATE, so
two concurrent rotations cannot both win, on SQLite or PostgreSQL, in one process or many.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.oidc.tokens import REVOKED_FAMILIES, AuthContext
from identity_service.storage.database import session_scope
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import RefreshToken, new_id, utcnow


class RefreshTokenRejected(Exception):
    """Unknown, expired, revoked, for another client, or reused outside the grace window."""


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ClaimedRefreshToken:
    row: RefreshToken

    @property
    def ctx(self) -> AuthContext:
        return AuthContext(account_id=self.row.account_id, auth_time=self.row.auth_time, acr=self.row.acr or "",
                           amr=tuple(self.row.amr), sid=self.row.sid or "")

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RefreshTokenStore:
    def __init__(self, engine: Engine, store: EphemeralStore, ttl: int, grace: int, access_token_ttl: int) -> None:
        self.engine = engine
        self.store = store
        self.ttl = ttl
        self.grace = grace
        self.access_token_ttl = access_token_ttl

    def issue(self, client_id: str, ctx: AuthContext, scope: str, family_id: str | None = None) -> tuple[str, str]:
        """A new token (plaintext returned once) and its family id."""
        token = secrets.token_urlsafe(32)
        family = family_id or new_id()
        row = RefreshToken(token_hash=hash_refresh_token(token), family_id=family, client_id=client_id,
                           account_id=ctx.account_id, scope=scope, acr=ctx.acr, amr=list(ctx.amr),
                           auth_time=ctx.auth_time, sid=ctx.sid, expires_at=utcnow() + timedelta(seconds=self.ttl))
        with session_scope(self.engine) as session:
            session.add(row)
        return token, family

    def find(self, token: str) -> RefreshToken | None:
        if not token or len(token) > 200:
            return None
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
            return session.exec(query).first()

    def is_active(self, row: RefreshToken) -> bool:
        return row.revoked_at is None and row.used_at is None and _aware(row.expires_at) > utcnow() \
            and not self.family_revoked(row.family_id) and not self._family_has_revoked(row.family_id)

    def claim(self, row: RefreshToken) -> ClaimedRefreshToken:
        """Consume ``row`` for one rotation, or raise; reuse outside the grace window revokes the family."""
        now = utcnow()
        if row.revoked_at is not None or _aware(row.expires_at) <= now:
            raise RefreshTokenRejected("the refresh token is revoked or expired")
        if self._family_has_revoked(row.family_id):
            # A family with any revoked member is dead, including a token rotated in while it was revoked.
            raise RefreshTokenRejected("the refresh token's family is revoked")
        with session_scope(self.engine) as session:
            claimed = session.execute(
                update(RefreshToken)
                .where(col(RefreshToken.id) == row.id, col(RefreshToken.used_at).is_(None),
                       col(RefreshToken.revoked_at).is_(None))
                .values(used_at=now)
            )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return ClaimedRefreshToken(row)
        current = self.find_by_id(row.id)
        if current is None or current.revoked_at is not None:
            raise RefreshTokenRejected("the refresh token is revoked")
        if current.used_at is not None and self.grace > 0 \
                and utcnow() - _aware(current.used_at) <= timedelta(seconds=self.grace):
            return ClaimedRefreshToken(current)  # concurrent duplicate: a sibling in the same family
        self.revoke_family(current.family_id, reason="reuse_detected", account_id=current.account_id,
                           client_id=current.client_id)
        raise RefreshTokenRejected("the refresh token was already used; its family is revoked")

    def _family_has_revoked(self, family_id: str) -> bool:
        with Session(self.engine) as session:
            query = select(RefreshToken.id).where(RefreshToken.family_id == family_id,
                                                  col(RefreshToken.revoked_at).is_not(None))
            return session.exec(query.limit(1)).first() is not None

    def find_by_id(self, row_id: str) -> RefreshToken | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(RefreshToken, row_id)

    def revoke_family(self, family_id: str, reason: str, account_id: str | None = None,
                      client_id: str | None = None) -> None:
        """Revoke every refresh token of the family and every access token issued from it."""
        with session_scope(self.engine) as session:
            session.execute(update(RefreshToken).where(col(RefreshToken.family_id) == family_id,
                                                       col(RefreshToken.revoked_at).is_(None))
                            .values(revoked_at=utcnow()))
            record_event(session, f"refresh_token.{reason}", account_id=account_id, client_id=client_id,
                         family_id=family_id)
        self.store.put(REVOKED_FAMILIES, family_id, {"reason": reason}, self.access_token_ttl + 60)

    def revoke_session(self, sid: str, account_id: str) -> None:
        """Logout: every family that came from browser session ``sid`` is revoked."""
        with Session(self.engine) as session:
            families = set(session.exec(select(RefreshToken.family_id).where(
                RefreshToken.sid == sid, col(RefreshToken.revoked_at).is_(None))).all())
        for family in families:
            self.revoke_family(family, reason="logout", account_id=account_id)

    def move_session(self, old_sid: str, new_sid: str) -> None:
        """A renewed session id (step-up): tokens issued earlier in the session still end with it at logout."""
        with session_scope(self.engine) as session:
            session.execute(update(RefreshToken).where(col(RefreshToken.sid) == old_sid).values(sid=new_sid))

    def family_revoked(self, family_id: str | None) -> bool:
        return bool(family_id) and self.store.get(REVOKED_FAMILIES, str(family_id)) is not None
