"""Durable state (SQL). Storage knows no HTTP: these are plain tables.

Identifiers that leave the service (``sub``) are derived, never these primary keys.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Citizen(SQLModel, table=True):
    """A row of the (synthetic) national population registry."""

    __tablename__ = "citizens"

    cccd: str = Field(primary_key=True, max_length=12, description="12-digit personal identification number")
    full_name: str = Field(max_length=200)
    family_name: str = Field(max_length=100)
    given_name: str = Field(max_length=100)
    birth_date: date
    sex: str = Field(max_length=6, description="'male' or 'female'")
    place_of_residence: str = Field(max_length=300)
    card_number: str = Field(max_length=12, description="document number printed on the chip card")
    card_expiry: date
    card_status: str = Field(default="valid", max_length=10, description="'valid' or 'revoked'")
    deceased: bool = False


class Account(SQLModel, table=True):
    """A citizen's electronic identity account."""

    __tablename__ = "accounts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    cccd: str = Field(foreign_key="citizens.cccd", unique=True, max_length=12)
    phone: str = Field(max_length=20)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    level: int = Field(default=1, ge=1, le=2)
    status: str = Field(default="active", max_length=10, description="'active', 'locked' or 'revoked'")
    status_reason: str | None = Field(default=None, max_length=200)
    level_verified_at: datetime | None = Field(default=None, description="when level 2 was last granted in person")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Client(SQLModel, table=True):
    """A registered relying party (OIDC client)."""

    __tablename__ = "clients"

    client_id: str = Field(primary_key=True, max_length=100)
    client_secret_hash: str | None = Field(default=None, max_length=128)
    name: str = Field(max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    post_logout_redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    allowed_scopes: str = Field(default="openid", max_length=500)
    grant_types: list[str] = Field(
        default_factory=lambda: ["authorization_code"], sa_column=Column(JSON, nullable=False)
    )
    token_endpoint_auth_method: str = Field(default="client_secret_basic", max_length=40)
    subject_type: str = Field(default="pairwise", max_length=10)
    sector_identifier: str = Field(max_length=255, description="host that pairwise subs are derived for")
    min_level: int = Field(default=1, ge=1, le=2)
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True),
                                        description="public keys for private_key_jwt (RFC 7523)")
    require_par: bool = False
    id_token_signed_response_alg: str = Field(default="RS256", max_length=10)
    backchannel_logout_uri: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class Consent(SQLModel, table=True):
    """Scopes a citizen has granted to a client; withdrawn consents keep their row."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("account_id", "client_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    client_id: str = Field(foreign_key="clients.client_id", max_length=100)
    scopes: str = Field(max_length=500)
    granted_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = None


class RefreshToken(SQLModel, table=True):
    """A refresh token, stored only as a hash; ``family_id`` ties every rotation together."""

    __tablename__ = "refresh_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    family_id: str = Field(index=True, max_length=32)
    client_id: str = Field(foreign_key="clients.client_id", max_length=100)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    scope: str = Field(max_length=500)
    acr: str | None = Field(default=None, max_length=100)
    amr: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    auth_time: int = 0
    sid: str | None = Field(default=None, max_length=64)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class SigningKey(SQLModel, table=True):
    """Metadata of a signing key; the private key itself lives in ``keys/`` (0600)."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    alg: str = Field(max_length=10)
    created_at: datetime = Field(default_factory=utcnow)
    activated_at: datetime | None = None
    retired_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only audit trail. ``details`` holds identifiers and outcomes, never PII."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_at", "account_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    event: str = Field(max_length=60)
    account_id: str | None = Field(default=None, max_length=32)
    client_id: str | None = Field(default=None, max_length=100)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LevelEvidence(SQLModel, table=True):
    """What a registration officer checked in person when granting level 2 (written once per request)."""

    __tablename__ = "level_evidence"
    __table_args__ = (UniqueConstraint("registrar_client_id", "request_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    action: str = Field(max_length=10, description="'upgrade' or 'create'")
    registrar_client_id: str = Field(foreign_key="clients.client_id", max_length=100)
    request_id: str = Field(max_length=64, description="the registrar's idempotency key: a replay writes nothing")
    officer_id: str = Field(max_length=64)
    desk_id: str = Field(max_length=64)
    chip_data_hash: str = Field(max_length=64, description="SHA-256 (hex) of the chip's data groups")
    card_number: str = Field(max_length=12)
    card_expiry: date
    face_check: str = Field(max_length=10, description="'match' (anything else is refused)")
    fingerprint_check: str = Field(max_length=10, description="'match' (anything else is refused)")
    verified_at: datetime
    recorded_at: datetime = Field(default_factory=utcnow)


class SecondFactor(SQLModel, table=True):
    """A TOTP authenticator (RFC 6238). The shared secret is stored encrypted, never in the clear."""

    __tablename__ = "second_factors"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    kind: str = Field(default="totp", max_length=10)
    label: str = Field(default="", max_length=60)
    secret_encrypted: str = Field(max_length=255)
    last_used_step: int = Field(default=0, description="the last accepted TOTP time step (no replay)")
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None


class RecoveryCode(SQLModel, table=True):
    """A single-use recovery code, stored only as a hash."""

    __tablename__ = "recovery_codes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class RegistrarRequestRecord(SQLModel, table=True):
    """The first answer to a registrar request, keyed by (registrar client, ``request_id``).

    Written in the transaction of the action it answers, so a request either changed the account
    and is recorded here, or did neither. No PII: the body it answered is kept only as a hash.
    No foreign key to ``clients``: like audit events, the record outlives a removed desk client.
    """

    __tablename__ = "registrar_requests"
    __table_args__ = (UniqueConstraint("registrar_client_id", "request_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    registrar_client_id: str = Field(max_length=100)
    request_id: str = Field(max_length=64, description="the desk's idempotency key")
    action: str = Field(max_length=10, description="'upgrade', 'create', 'lock', 'unlock' or 'revoke'")
    body_sha256: str = Field(max_length=64, description="SHA-256 (hex) of the canonical request body")
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    response_status: int
    response_body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow)
