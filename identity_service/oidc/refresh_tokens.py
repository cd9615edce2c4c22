"""Refresh tokens: stored only as SHA-256 hashes, rotated on every use, reuse revokes the family.

RFC 9700 §4.14.2: a refresh token presented after it was rotated means it leaked; the whole family
(every token descended from the same authorization) is revoked. A short grace window lets the same
token arrive twice concurrently (two browser tabs) without logging the citizen out: within it the
second request gets a sibling token of the same family. The claim is one conditional UPDATE, so
two concurrent rotations cannot both win, on SQLite or PostgreSQL, in one process or many.

A rotation is on the token endpoint's hot path. On PostgreSQL the usual case is ONE statement
(:meth:`RefreshTokenStore.rotate_async` on the event loop, :meth:`RefreshTokenStore.rotate` from the
threadpool): a data-modifying CTE claims the presented token with the same
conditional UPDATE (unused, unrevoked, unexpired, this client's, no revoked family member, account
active) and inserts its successor from the claimed row, so the successor exists exactly when the
claim won. When it claims nothing — unknown token, another client's, expired, a concurrent duplicate,
a reuse, a locked account — the caller takes the general path, which tells these cases apart (grace
window, family revocation) with up to three single-statement round trips (look up the token with
its family's state, claim it, insert the successor), as SQLite always does (it has no
data-modifying CTEs). Statements run in autocommit mode
(:func:`~identity_service.storage.database.single_statement`) and are built once. Only the rare
paths (reuse, revocation) use ORM sessions and multi-statement transactions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, exists, insert, text, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.oidc.tokens import REVOKED_FAMILIES, AuthContext
from identity_service.storage.async_statements import AsyncStatements, positional_sql
from identity_service.storage.database import session_scope, single_statement
from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.models import RefreshToken, new_id, utcnow

# Hot-path statements, built once: constructing SQL expressions costs more CPU than running them.
_TOKENS: Table = RefreshToken.__table__  # type: ignore[attr-defined]
_MEMBER = _TOKENS.alias("member")
_FIND = core_select(_TOKENS, exists().where(_MEMBER.c.family_id == _TOKENS.c.family_id,
                                            _MEMBER.c.revoked_at.is_not(None)).label("family_revoked")
                    ).where(_TOKENS.c.token_hash == bindparam("token_hash"))
_CLAIM = update(_TOKENS).where(
    _TOKENS.c.id == bindparam("row_id"), _TOKENS.c.used_at.is_(None), _TOKENS.c.revoked_at.is_(None),
    # A revocation that landed since the lookup still wins (RFC 9700 §4.14.2).
    ~exists().where(_MEMBER.c.family_id == bindparam("family"), _MEMBER.c.revoked_at.is_not(None)),
).values(used_at=bindparam("claimed_at"))
_INSERT = insert(_TOKENS)
# PostgreSQL: claim and successor in one statement (see the module docstring). READ COMMITTED
# re-checks the UPDATE's conditions after waiting for a concurrent claim of the same row, so two
# rotations cannot both win; the loser claims nothing and takes the general path.
_ROTATE = text("""
WITH claimed AS (
    UPDATE refresh_tokens AS t SET used_at = :now
    WHERE t.token_hash = :token_hash AND t.client_id = :client_id
      AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > :now
      AND NOT EXISTS (SELECT 1 FROM refresh_tokens AS m
                      WHERE m.family_id = t.family_id AND m.revoked_at IS NOT NULL)
      AND EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = t.account_id AND a.status = 'active')
    RETURNING t.family_id, t.client_id, t.account_id, t.scope, t.acr, t.amr, t.auth_time, t.sid
)
INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, account_id, scope, acr, amr, auth_time, sid,
                            issued_at, expires_at, used_at, revoked_at)
SELECT :new_id, :new_hash, family_id, client_id, account_id, scope, acr, amr, auth_time, sid, :now, :expires_at,
       NULL, NULL
FROM claimed
RETURNING family_id, client_id, account_id, scope, acr, amr, auth_time, sid
""")
_ROTATE_SQL = positional_sql(_ROTATE)  # the same statement for asyncpg


def _rotated(row: Mapping[str, Any] | None, successor: str) -> tuple[ClaimedRefreshToken, str] | None:
    return None if row is None else (ClaimedRefreshToken.of(row), successor)


class RefreshTokenRejected(Exception):
    """Unknown, expired, revoked, for another client, or reused outside the grace window."""


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ClaimedRefreshToken:
    """What a claimed token was granted; its successor carries it unchanged."""

    family_id: str
    client_id: str
    account_id: str
    scope: str
    ctx: AuthContext

    @classmethod
    def of(cls, row: RefreshToken | Mapping[str, Any]) -> ClaimedRefreshToken:
        """From the claimed row, or the one statement's ``RETURNING`` values (building a SQLModel
        instance from them cost more CPU than the rest of the rotation)."""
        values = row if isinstance(row, Mapping) else row.model_dump()
        ctx = AuthContext(account_id=values["account_id"], auth_time=values["auth_time"], acr=values["acr"] or "",
                          amr=tuple(values["amr"]), sid=values["sid"] or "")
        return cls(values["family_id"], values["client_id"], values["account_id"], values["scope"], ctx)

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class FoundRefreshToken:
    """A looked-up token and whether its family had a revoked member at that moment."""

    row: RefreshToken
    family_revoked: bool


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RefreshTokenStore:
    def __init__(self, engine: Engine, store: EphemeralStore, ttl: int, grace: int, access_token_ttl: int,
                 statements_on_loop: AsyncStatements | None = None) -> None:
        self.engine = engine
        self.store = store
        self.ttl = ttl
        self.grace = grace
        self.access_token_ttl = access_token_ttl
        self._statements = single_statement(engine)
        self._on_loop = statements_on_loop

    @property
    def rotates_on_the_loop(self) -> bool:
        """Whether :meth:`rotate_async` can run (PostgreSQL, through asyncpg)."""
        return self._on_loop is not None

    def issue(self, client_id: str, ctx: AuthContext, scope: str, family_id: str | None = None) -> tuple[str, str]:
        """A new token (plaintext returned once) and its family id."""
        token = secrets.token_urlsafe(32)
        family = family_id or new_id()
        now = utcnow()
        values = {"id": new_id(), "token_hash": hash_refresh_token(token), "family_id": family,
                  "client_id": client_id, "account_id": ctx.account_id, "scope": scope, "acr": ctx.acr,
                  "amr": list(ctx.amr), "auth_time": ctx.auth_time, "sid": ctx.sid, "issued_at": now,
                  "expires_at": now + timedelta(seconds=self.ttl), "used_at": None, "revoked_at": None}
        with self._statements.connect() as connection:
            connection.execute(_INSERT, values)
        return token, family

    def rotate(self, token: str, client_id: str) -> tuple[ClaimedRefreshToken, str] | None:
        """PostgreSQL's one-statement rotation: the claimed grant and the successor's plaintext, or None
        when nothing was claimed (then use :meth:`find_for_rotation`, :meth:`claim` and :meth:`issue`,
        which say why and apply reuse detection). The account was active at the claim."""
        if self.engine.dialect.name != "postgresql" or not token or len(token) > 200:
            return None
        successor, values = self._rotation(token, client_id)
        with self._statements.connect() as connection:
            row = connection.execute(_ROTATE, values).mappings().first()
        return _rotated(dict(row) if row is not None else None, successor)

    async def rotate_async(self, token: str, client_id: str) -> tuple[ClaimedRefreshToken, str] | None:
        """:meth:`rotate` on the event loop (only when :attr:`rotates_on_the_loop`)."""
        if self._on_loop is None or not token or len(token) > 200:
            return None
        successor, values = self._rotation(token, client_id)
        return _rotated(await self._on_loop.fetch_one(_ROTATE_SQL, values), successor)

    def _rotation(self, token: str, client_id: str) -> tuple[str, dict[str, object]]:
        """The successor's plaintext and the parameters of :data:`_ROTATE`."""
        successor = secrets.token_urlsafe(32)
        now = utcnow()
        return successor, {"token_hash": hash_refresh_token(token), "client_id": client_id, "now": now,
                           "new_id": new_id(), "new_hash": hash_refresh_token(successor),
                           "expires_at": now + timedelta(seconds=self.ttl)}

    def find(self, token: str) -> RefreshToken | None:
        found = self.find_for_rotation(token)
        return found.row if found else None

    def find_for_rotation(self, token: str) -> FoundRefreshToken | None:
        """The token's row and whether any member of its family is revoked: one round trip for both,
        since every rotation needs both."""
        if not token or len(token) > 200:
            return None
        with self._statements.connect() as connection:
            found = connection.execute(_FIND, {"token_hash": hash_refresh_token(token)}).mappings().first()
        if found is None:
            return None
        values = dict(found)
        family_revoked = bool(values.pop("family_revoked"))
        return FoundRefreshToken(RefreshToken(**values), family_revoked)

    def is_active(self, row: RefreshToken) -> bool:
        return row.revoked_at is None and row.used_at is None and _aware(row.expires_at) > utcnow() \
            and not self.family_revoked(row.family_id) and not self._family_has_revoked(row.family_id)

    def claim(self, found: FoundRefreshToken) -> ClaimedRefreshToken:
        """Consume the token for one rotation, or raise; reuse outside the grace window revokes the family."""
        now, row = utcnow(), found.row
        if row.revoked_at is not None or _aware(row.expires_at) <= now:
            raise RefreshTokenRejected("the refresh token is revoked or expired")
        if found.family_revoked:
            # A family with any revoked member is dead, including a token rotated in while it was revoked.
            raise RefreshTokenRejected("the refresh token's family is revoked")
        with self._statements.connect() as connection:
            claimed = connection.execute(_CLAIM, {"row_id": row.id, "family": row.family_id, "claimed_at": now})
        if claimed.rowcount == 1:
            return ClaimedRefreshToken.of(row)
        current = self.find_by_id(row.id)
        if current is None or current.revoked_at is not None or self._family_has_revoked(current.family_id):
            raise RefreshTokenRejected("the refresh token is revoked")
        if current.used_at is not None and self.grace > 0 \
                and utcnow() - _aware(current.used_at) <= timedelta(seconds=self.grace):
            return ClaimedRefreshToken.of(current)  # concurrent duplicate: a sibling in the same family
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
