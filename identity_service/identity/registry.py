"""Matching what a citizen typed against the population registry (DESIGN.md §1)."""

from __future__ import annotations

import unicodedata
from datetime import date

from sqlmodel import Session

from identity_service.identity.cccd import parse_cccd
from identity_service.storage.models import Citizen


class RegistryMismatch(Exception):
    """The registry does not confirm the citizen; ``reason`` is a stable code.

    Name and birth date mismatches share one reason so the answer reveals less about the entry.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"registry check failed: {reason}")
        self.reason = reason


def _normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def match_citizen(session: Session, cccd: str, full_name: str, birth_date: date, today: date | None = None) -> Citizen:
    """Return the registry entry, or raise :class:`RegistryMismatch` (``InvalidCccd`` before any lookup)."""
    parse_cccd(cccd)
    citizen = session.get(Citizen, cccd)
    if citizen is None:
        raise RegistryMismatch("not_found")
    if _normalise_name(citizen.full_name) != _normalise_name(full_name) or citizen.birth_date != birth_date:
        raise RegistryMismatch("details_mismatch")
    if citizen.deceased:
        raise RegistryMismatch("deceased")
    if citizen.card_status == "revoked":
        raise RegistryMismatch("card_revoked")
    if citizen.card_expiry < (today or date.today()):
        raise RegistryMismatch("card_expired")
    return citizen
