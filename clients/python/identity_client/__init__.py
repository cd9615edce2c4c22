"""identity_client: verify identity_service tokens in relying parties.

Quick start::

    from identity_client import TokenVerifier

    verifier = TokenVerifier("https://id.example.gov.vn", audience="my-client-id")
    identity = verifier.verify_access_token(token, level=2)
    identity.citizen_id, identity.level
"""

from identity_client.errors import (
    ExpiredToken,
    IdentityError,
    InsufficientLevel,
    InvalidToken,
    ProviderUnavailable,
)
from identity_client.identity import Identity
from identity_client.verifier import AsyncTokenVerifier, TokenVerifier

__all__ = [
    "AsyncTokenVerifier",
    "ExpiredToken",
    "Identity",
    "IdentityError",
    "InsufficientLevel",
    "InvalidToken",
    "ProviderUnavailable",
    "TokenVerifier",
]
