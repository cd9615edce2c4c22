"""One mapping from domain errors to translation keys, shared by the pages and the JSON API."""

from __future__ import annotations

from identity_service.identity.cccd import InvalidCccd
from identity_service.identity.enrollment import EnrollmentError
from identity_service.identity.registry import RegistryMismatch


def error_code(exc: Exception) -> str:
    """A stable machine-readable code such as ``invalid_cccd.province`` or ``registry.card_expired``."""
    if isinstance(exc, InvalidCccd):
        return f"invalid_cccd.{exc.part}"
    if isinstance(exc, RegistryMismatch):
        return f"registry.{exc.reason}"
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    return "invalid_request"


def is_enrollment_error(exc: Exception) -> bool:
    return isinstance(exc, InvalidCccd | RegistryMismatch | EnrollmentError) or hasattr(exc, "code")
