"""Introspection endpoint (RFC 7662) on the event loop; the endpoint's rules are in
:mod:`identity_service.oidc.token_introspection` (authlib's ``IntrospectionEndpoint`` with our hooks).

A resource server introspects access tokens (JWTs) far more often than anything else. For those the
token is looked up before authlib runs: signature and claims on the CPU, its record, its family's
revocation marker and its (client, subject) cut-off in one pipelined round trip, and whether the
account is still active (one SQL read in the threadpool). authlib then runs offline on the event
loop with that result: client authentication from the cached registration, permission (a client
introspects only its own tokens) and the payload. Anything else — refresh tokens, a type hint that
asks for them, ``private_key_jwt``, an uncached client — runs entirely in the threadpool as before.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from identity_service.oidc.offline import StorageNeeded
from identity_service.oidc.token import guarded, read_form
from identity_service.oidc.token_introspection import FoundToken, access_token_found, account_active
from identity_service.services import Services

router = APIRouter(tags=["OpenID Connect"])

_MAX_TOKEN_LENGTH = 8192


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    http_request = await read_form(request, "/introspect")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    form = dict(http_request.form)
    token = form.get("token", "")
    if (form.get("token_type_hint") in (None, "access_token") and "client_assertion" not in form
            and 0 < len(token) <= _MAX_TOKEN_LENGTH and token.count(".") == 2):
        found: FoundToken | None = None
        state = await services.issuer.verify_access_token(token)
        if state is not None:
            account_id = state.record.get("account_id")
            active = account_id is None or await run_in_threadpool(account_active, services.oauth, account_id)
            found = access_token_found(state, active)
        try:
            return guarded(services.oauth.endpoint_response, "introspection", http_request, True, found)
        except StorageNeeded:
            pass  # an uncached client: the threadpool path reads it
    return await run_in_threadpool(guarded, services.oauth.endpoint_response, "introspection", http_request)
