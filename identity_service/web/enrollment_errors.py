"""One mapping from domain errors to translation keys, shared by the pages and the JSON API."""

from __future__ import annotations

from identity_service.identity.cccd import InvalidCccd
from identity_service.identity.enrollment import EnrollmentError
from identity_service.identity.otp import OtpError
from identity_service.identity.registry import RegistryMismatch
from identity_service.identity.sms import SmsUnavailable
from identity_service.security.rate_limits import RateLimited

ENROLLMENT_ERRORS = (InvalidCccd, RegistryMismatch, EnrollmentError, OtpError, SmsUnavailable, RateLimited)


def error_code(exc: Exception) -> str:
    """A stable machine-readable code such as ``invalid_cccd.province`` or ``registry.card_expired``."""
    if isinstance(exc, InvalidCccd):
        return f"invalid_cccd.{exc.part}"
    if isinstance(exc, RegistryMismatch):
        return f"registry.{exc.reason}"
    if isinstance(exc, EnrollmentError | OtpError | SmsUnavailable | RateLimited):
        return exc.code
    return "invalid_request"
