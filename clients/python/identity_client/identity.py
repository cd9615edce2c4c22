"""The verified identity an application receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Identity:
    """An immutable view of a verified token. ``claims`` holds every claim, read-only."""

    subject: str
    issuer: str
    audience: tuple[str, ...]
    expires_at: int
    level: int | None
    acr: str | None
    amr: tuple[str, ...]
    auth_time: int | None
    citizen_id: str | None
    name: str | None
    birthdate: str | None
    scope: tuple[str, ...]
    client_id: str | None
    claims: MappingProxyType[str, Any] = field(repr=False)

    @classmethod
    def from_claims(cls, claims: dict[str, Any], level: int | None) -> Identity:
        audience = claims.get("aud")
        return cls(
            subject=str(claims["sub"]),
            issuer=str(claims["iss"]),
            audience=(audience,) if isinstance(audience, str) else tuple(audience or ()),
            expires_at=int(claims["exp"]),
            level=level,
            acr=claims.get("acr"),
            amr=tuple(claims.get("amr") or ()),
            auth_time=claims.get("auth_time"),
            citizen_id=claims.get("citizen_id"),
            name=claims.get("name"),
            birthdate=claims.get("birthdate"),
            scope=tuple(str(claims.get("scope", "")).split()),
            client_id=claims.get("client_id") or claims.get("azp"),
            claims=MappingProxyType(dict(claims)),
        )
