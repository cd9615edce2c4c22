"""Client registration rules and storage, shared by the CLI and the admin API.

Redirect URIs are compared exactly at run time, so registration is where they are held to the
rules: absolute, https (http only on loopback, RFC 8252 §7.3), no fragment (RFC 6749 §3.1.2),
no wildcard, no credentials in the URI.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from identity_service.identity.audit import record_event
from identity_service.oidc.claims import SUPPORTED_SCOPES
from identity_service.oidc.clients import CLIENT_ID_PATTERN
from identity_service.security.client_secrets import hash_client_secret, new_client_secret
from identity_service.storage.database import session_scope
from identity_service.storage.models import Client, Consent, RefreshToken

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
ADMIN_SCOPE = "admin"
REGISTRAR_SCOPE = "registrar"  # police registration desks (admin/registrar.py)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_DEFAULT_GRANTS: list[GrantType] = ["authorization_code", "refresh_token"]


class ClientNotFound(LookupError):
    pass


class ClientExists(ValueError):
    pass


def check_uri(uri: str, what: str = "redirect URI") -> str:
    """Raise ValueError unless ``uri`` may be registered."""
    if len(uri) > 500:
        raise ValueError(f"{what} is longer than 500 characters")
    if "*" in uri:
        raise ValueError(f"{what} must not contain wildcards: {uri}")
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{what} must be an absolute URI: {uri}")
    if parts.fragment or "#" in uri:
        raise ValueError(f"{what} must not contain a fragment: {uri}")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not contain credentials: {uri}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError(f"{what} must use https outside localhost: {uri}")
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{what} must use https: {uri}")
    return uri


class ClientSpec(BaseModel):
    """What an operator registers. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(default=None, description="Generated when omitted.")
    name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    scopes: list[str] = Field(default_factory=lambda: ["openid"])
    grant_types: list[GrantType] = Field(default_factory=lambda: list(_DEFAULT_GRANTS))
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"
    jwks: dict[str, Any] | None = None
    subject_type: Literal["pairwise", "public"] = "pairwise"
    min_level: int = Field(default=1, ge=1, le=2)
    require_par: bool = False
    id_token_signed_response_alg: Literal["RS256", "ES256"] = "RS256"
    backchannel_logout_uri: str | None = None

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not CLIENT_ID_PATTERN.fullmatch(value):
            raise ValueError("client_id: 3-100 characters of A-Z a-z 0-9 . _ -")
        return value

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, values: list[str]) -> list[str]:
        return [check_uri(v) for v in values]

    @field_validator("backchannel_logout_uri")
    @classmethod
    def _backchannel(cls, value: str | None) -> str | None:
        return None if value is None else check_uri(value, "backchannel_logout_uri")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: list[str]) -> list[str]:
        unknown = set(values) - set(SUPPORTED_SCOPES) - {ADMIN_SCOPE, REGISTRAR_SCOPE}
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        return sorted(set(values))

    @model_validator(mode="after")
    def _consistent(self) -> ClientSpec:
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("authorization_code clients need at least one redirect URI")
        if self.token_endpoint_auth_method == "private_key_jwt" and not (self.jwks and self.jwks.get("keys")):
            raise ValueError("private_key_jwt clients need a jwks with at least one public key")
        if self.jwks and any("d" in key for key in self.jwks.get("keys", [])):
            raise ValueError("jwks must contain public keys only")
        if self.token_endpoint_auth_method == "none" and "client_credentials" in self.grant_types:
            raise ValueError("public clients (auth method none) cannot use client_credentials")
        if ADMIN_SCOPE in self.scopes and self.grant_types != ["client_credentials"]:
            raise ValueError("the admin scope is only for client_credentials clients")
        if REGISTRAR_SCOPE in self.scopes and (self.token_endpoint_auth_method != "private_key_jwt"
                                               or self.grant_types != ["client_credentials"]):
            # Every registrar action is signed with the desk's key (non-repudiation): no shared secret.
            raise ValueError("the registrar scope is only for private_key_jwt client_credentials clients")
        return self


def _sector(spec: ClientSpec) -> str:
    hosts = {urlsplit(uri).hostname or "" for uri in spec.redirect_uris}
    # OIDC Core §8.1: one host → that host is the sector; several need one sector_identifier (not yet offered).
    return hosts.pop() if len(hosts) == 1 else (spec.client_id or "")


def _apply(row: Client, spec: ClientSpec) -> None:
    row.name = spec.name
    row.redirect_uris = spec.redirect_uris
    row.post_logout_redirect_uris = spec.post_logout_redirect_uris
    row.allowed_scopes = " ".join(spec.scopes)
    row.grant_types = list(spec.grant_types)
    row.token_endpoint_auth_method = spec.token_endpoint_auth_method
    row.jwks = spec.jwks
    row.subject_type = spec.subject_type
    row.min_level = spec.min_level
    row.require_par = spec.require_par
    row.id_token_signed_response_alg = spec.id_token_signed_response_alg
    row.backchannel_logout_uri = spec.backchannel_logout_uri


def describe(row: Client) -> dict[str, Any]:
    """A client as the API and CLI show it (never the secret hash)."""
    return {
        "client_id": row.client_id, "name": row.name, "redirect_uris": row.redirect_uris,
        "post_logout_redirect_uris": row.post_logout_redirect_uris, "scopes": row.allowed_scopes.split(),
        "grant_types": row.grant_types, "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "jwks": row.jwks, "subject_type": row.subject_type, "sector_identifier": row.sector_identifier,
        "min_level": row.min_level, "require_par": row.require_par,
        "id_token_signed_response_alg": row.id_token_signed_response_alg,
        "backchannel_logout_uri": row.backchannel_logout_uri, "created_at": row.created_at.isoformat(),
    }


def register_client(engine: Engine, spec: ClientSpec) -> tuple[Client, str | None]:
    """Create a client; returns it and its secret (shown once; only a hash is stored)."""
    client_id = spec.client_id or f"c-{secrets.token_hex(8)}"
    spec = spec.model_copy(update={"client_id": client_id})
    secret = new_client_secret() if spec.token_endpoint_auth_method.startswith("client_secret") else None
    with session_scope(engine) as session:
        if session.get(Client, client_id) is not None:
            raise ClientExists(f"client {client_id} already exists")
        row = Client(client_id=client_id, name=spec.name, sector_identifier=_sector(spec),
                     client_secret_hash=hash_client_secret(secret) if secret else None)
        _apply(row, spec)
        session.add(row)
        record_event(session, "client.registered", client_id=client_id)
    return row, secret


def get_client(engine: Engine, client_id: str) -> Client:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Client, client_id)
    if row is None:
        raise ClientNotFound(client_id)
    return row


def list_clients(engine: Engine) -> list[Client]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(Client).order_by(col(Client.client_id))))


def update_client(engine: Engine, client_id: str, changes: dict[str, Any]) -> Client:
    """Apply ``changes`` (validated as a whole spec); the sector stays fixed so subs never change."""
    with session_scope(engine) as session:
        row = session.get(Client, client_id)
        if row is None:
            raise ClientNotFound(client_id)
        current = {k: v for k, v in describe(row).items()
                   if k not in ("sector_identifier", "created_at")}
        spec = ClientSpec.model_validate({**current, **changes, "client_id": client_id})
        if spec.token_endpoint_auth_method.startswith("client_secret") and not row.client_secret_hash:
            raise ValueError("switching to a secret-based method needs a new secret: use rotate-secret")
        _apply(row, spec)
        session.add(row)
        record_event(session, "client.updated", client_id=client_id, fields=sorted(changes))
    return row


def rotate_client_secret(engine: Engine, client_id: str) -> str:
    secret = new_client_secret()
    with session_scope(engine) as session:
        row = session.get(Client, client_id)
        if row is None:
            raise ClientNotFound(client_id)
        row.client_secret_hash = hash_client_secret(secret)
        session.add(row)
        record_event(session, "client.secret_rotated", client_id=client_id)
    return secret


def remove_client(engine: Engine, client_id: str) -> None:
    """Delete the client with its consents and refresh tokens (audit events stay)."""
    with session_scope(engine) as session:
        row = session.get(Client, client_id)
        if row is None:
            raise ClientNotFound(client_id)
        session.execute(delete(RefreshToken).where(col(RefreshToken.client_id) == client_id))
        session.execute(delete(Consent).where(col(Consent.client_id) == client_id))
        session.delete(row)
        record_event(session, "client.removed", client_id=client_id)
