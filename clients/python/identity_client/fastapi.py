"""FastAPI integration: ``Depends(require_identity(verifier, level=2))`` gives the verified identity.

Missing or invalid tokens answer 401 with ``WWW-Authenticate: Bearer error="invalid_token"``
(RFC 6750 §3); a valid token below the required level answers 403 ``insufficient_user_authentication``
with the ``acr_values`` to ask for (RFC 9470 step-up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from identity_client.errors import InsufficientLevel, InvalidToken, ProviderUnavailable
from identity_client.identity import Identity
from identity_client.verifier import AsyncTokenVerifier

LEVEL_ACR = {1: "urn:eid:vn:level1", 2: "urn:eid:vn:level2"}


def require_identity(
    verifier: AsyncTokenVerifier, level: int | None = None
) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency that verifies the request's Bearer access token (and its level)."""

    async def dependency(request: Request) -> Identity:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            return await verifier.verify_access_token(token.strip(), level=level)
        except InsufficientLevel as exc:
            challenge = (f'Bearer error="insufficient_user_authentication", '
                         f'error_description="{exc}", acr_values="{LEVEL_ACR.get(exc.required, "")}"')
            raise HTTPException(403, str(exc), headers={"WWW-Authenticate": challenge}) from None
        except ProviderUnavailable:
            raise HTTPException(503, "identity provider unavailable", headers={"Retry-After": "5"}) from None
        except InvalidToken as exc:
            raise HTTPException(401, str(exc), headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'}) from None

    return dependency
