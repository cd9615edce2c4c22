"""The portal's public services and the dossiers citizens submit (in memory: an example)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class PublicService:
    slug: str
    title: str
    summary: str


SERVICES = (
    PublicService("birth-registration", "Đăng ký khai sinh (Birth registration)",
                  "Register a newborn child with the commune authority."),
    PublicService("residence-confirmation", "Xác nhận thông tin cư trú (Residence confirmation)",
                  "Ask for a confirmation of your place of residence."),
    PublicService("criminal-record", "Cấp phiếu lý lịch tư pháp (Criminal record certificate)",
                  "Request a criminal record certificate."),
)
SERVICES_BY_SLUG = {service.slug: service for service in SERVICES}


@dataclass(frozen=True)
class Dossier:
    """A submitted application: who (the verified CCCD), what, when, at which level."""

    reference: str
    service: PublicService
    citizen_id: str
    subject: str
    details: str
    level: int
    submitted_at: datetime


class DossierBook:
    def __init__(self) -> None:
        self._dossiers: dict[str, Dossier] = {}
        self._lock = threading.Lock()

    def submit(self, service: PublicService, citizen_id: str, subject: str, details: str, level: int) -> Dossier:
        dossier = Dossier(reference=f"HS-{secrets.token_hex(4).upper()}", service=service, citizen_id=citizen_id,
                          subject=subject, details=details, level=level, submitted_at=datetime.now(UTC))
        with self._lock:
            self._dossiers[dossier.reference] = dossier
        return dossier

    def get(self, reference: str, subject: str) -> Dossier | None:
        """The dossier if ``subject`` submitted it (nobody reads someone else's)."""
        dossier = self._dossiers.get(reference)
        return dossier if dossier is not None and dossier.subject == subject else None
