"""JWKS (RFC 7517): every public key that may have signed a live token, precomputed at start-up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

router = APIRouter(tags=["OpenID Connect"])


@router.get("/jwks.json", summary="Public signing keys")
async def jwks(request: Request) -> Response:
    body: bytes = request.app.state.services.keys.jwks_json
    return Response(body, media_type="application/jwk-set+json", headers={"Cache-Control": "public, max-age=300"})
