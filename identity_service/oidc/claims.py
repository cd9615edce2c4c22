"""Scopes, the claims they release (DESIGN.md §2) and pairwise subject identifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from identity_service.storage.models import Account, Citizen, Client

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub", "identity_level"),
    "profile": ("name", "family_name", "given_name", "birthdate", "gender"),
    "phone": ("phone_number", "phone_number_verified"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "citizen_id": ("citizen_id",),
}
SUPPORTED_SCOPES = tuple(SCOPE_CLAIMS)
SUPPORTED_CLAIMS = tuple(sorted({c for claims in SCOPE_CLAIMS.values() for c in claims}
                                | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                                   "at_hash", "azp"}))


def claims_released_by(scopes: Iterable[str]) -> list[str]:
    """Names (never values) of the claims ``scopes`` release, in a stable order, for the audit log."""
    granted = set(scopes)
    return [claim for scope, claims in SCOPE_CLAIMS.items() if scope in granted for claim in claims]


def pairwise_subject(salt: str, sector: str, account_id: str) -> str:
    """OIDC Core §8.1: a stable sub per sector that two sectors cannot join on."""
    digest = hmac.new(salt.encode(), f"{sector}|{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def subject_for(client: Client, account_id: str, salt: str) -> str:
    if client.subject_type == "public":
        return account_id
    return pairwise_subject(salt, client.sector_identifier, account_id)


def user_claims(account: Account, citizen: Citizen, scopes: set[str]) -> dict[str, Any]:
    """Claims released for the granted ``scopes`` (never ``sub``: the caller derives it)."""
    claims: dict[str, Any] = {"identity_level": account.level}
    if "profile" in scopes:
        claims.update(
            name=citizen.full_name,
            family_name=citizen.family_name,
            given_name=citizen.given_name,
            birthdate=citizen.birth_date.isoformat(),
            gender=citizen.sex,
        )
    if "phone" in scopes:
        claims.update(phone_number=account.phone, phone_number_verified=True)
    if "email" in scopes and account.email:
        claims.update(email=account.email, email_verified=False)
    if "address" in scopes:
        claims["address"] = {"formatted": citizen.place_of_residence, "country": "VN"}
    if "citizen_id" in scopes:
        claims["citizen_id"] = citizen.cccd
    return claims
