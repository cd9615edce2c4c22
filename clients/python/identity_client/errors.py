"""Typed errors. Messages say what is wrong and never contain the token or a secret."""

from __future__ import annotations


class IdentityError(Exception):
    """Base of every error this SDK raises."""


class InvalidToken(IdentityError):
    """The token is malformed, has a bad signature, or a claim is wrong."""


class ExpiredToken(InvalidToken):
    """The token's ``exp`` has passed (beyond the leeway)."""


class InsufficientLevel(IdentityError):
    """The token is valid but the authentication level is below what the caller requires."""

    def __init__(self, required: int, actual: int | None) -> None:
        super().__init__(f"identity level {required} required, the token has {actual or 'none'}")
        self.required = required
        self.actual = actual


class ProviderUnavailable(IdentityError):
    """The provider's discovery or JWKS could not be fetched and nothing usable is cached."""
