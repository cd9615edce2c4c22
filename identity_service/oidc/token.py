"""Token endpoint (RFC 6749 §3.2) and revocation (RFC 7009): authlib validates; this reads and answers.

Three paths, the same checks (authlib's, with our hooks):

- **On the event loop** for ``client_credentials`` by a client this process has cached, with a
  shared secret: nothing in it needs storage until the end (client from the in-process cache, HMAC
  secret check, ES256 signing). authlib runs *offline* (:mod:`identity_service.oidc.offline`), then one
  pipelined round trip counts the request against the rate limit and stores the token's record.
- **On the event loop** for ``refresh_token`` on PostgreSQL, same client conditions: the rate limit
  first (a refresh token is single-use, so a request over the limit must not consume it), then
  authlib offline up to the rotation, the one-statement rotation on asyncpg, the
  rest of the grant, and the access token's record. Whatever the one statement does not claim
  (reuse, the grace window, a revoked family, a locked account) takes the threadpool path, which
  tells those cases apart.
- **In the threadpool** for everything else (a code grant, an uncached client, ``private_key_jwt``,
  SQLite, or an offline run that found it needs storage): the rate limit first, then authlib, then
  the issued tokens' records in one round trip.

Every way a token leaves only after its record is stored (DESIGN.md §5: never a token on partial
state; a storage failure answers 503).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote_plus

import anyio
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.oidc.authorization_codes import replayed_while_issuing
from identity_service.oidc.offline import RotationNeeded, StorageNeeded
from identity_service.oidc.server import HttpRequest
from identity_service.security.rate_limits import TOKEN_PER_CLIENT, RateLimited, client_ip
from identity_service.services import Services
from identity_service.storage.ephemeral import Put

router = APIRouter(tags=["OpenID Connect"])

_MAX_FORM_FIELDS = 30
_NO_STORE = {"Cache-Control": "no-store"}


def _invalid_request(description: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": description}, status_code=400,
                        headers=_NO_STORE)


async def read_form(request: Request, path: str) -> HttpRequest | Response:
    """The form body (RFC 6749 §3.2: ``application/x-www-form-urlencoded``, UTF-8, Appendix B).

    Parsed with ``urllib.parse`` from the already size-limited body (web/body_limit.py): the
    general multipart machinery of ``Request.form()`` cost more than the rest of a
    ``client_credentials`` grant's parsing.
    """
    services: Services = request.app.state.services
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return _invalid_request("Use application/x-www-form-urlencoded.")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=_MAX_FORM_FIELDS, errors="replace")
    except ValueError:
        return _invalid_request("Too many form fields.")
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # RFC 6749 §3.2: parameters MUST NOT be repeated. Readers disagree on which copy counts (a
        # dict keeps the last, authlib the first): one answer for all removes the ambiguity.
        return _invalid_request("A parameter is repeated.")
    return HttpRequest(method="POST", url=f"{services.settings.issuer}{path}", headers=request.headers, form=pairs)


def guarded(handler: Callable[..., Response], *args: object) -> Response:
    """authlib raises ValueError when an error description would echo forbidden characters from the
    request; answer that as the malformed request it is (RFC 6749 §5.2), never a 500."""
    try:
        return handler(*args)
    except ValueError:
        return _invalid_request("Malformed parameters.")


def _token_response(services: Services, http_request: HttpRequest, offline: bool) -> tuple[Response, list[Put]]:
    try:
        return services.oauth.token_response(http_request, offline=offline)
    except ValueError:
        return _invalid_request("Malformed parameters."), []


def _slow_down(exc: RateLimited) -> Response:
    return JSONResponse({"error": "slow_down", "error_description": "Too many token requests."},
                        status_code=429, headers={"Retry-After": str(exc.retry_after), **_NO_STORE})


@router.post("/token", summary="Token endpoint: authorization_code, refresh_token, client_credentials")
async def token(request: Request) -> Response:
    http_request = await read_form(request, "/token")
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    # Keyed by client and address, so nobody can spend another client's budget from elsewhere.
    bucket = f"{_claimed_client_id(request, http_request)}|{client_ip(request)}"
    form = dict(http_request.form)
    # private_key_jwt needs its replay cache (a blocking store call): those take the threadpool path.
    grant_type = form.get("grant_type") if "client_assertion" not in form else None
    if grant_type == "client_credentials":
        try:
            response, records = _token_response(services, http_request, offline=True)
        except StorageNeeded:
            pass  # an uncached client: the threadpool path reads it (and caches it for the next request)
        else:
            try:
                await services.limiter.hit_and_put(TOKEN_PER_CLIENT, bucket, records)
            except RateLimited as exc:
                return _slow_down(exc)
            return response
    elif grant_type == "refresh_token" and services.oauth.refresh_tokens.rotates_on_the_loop:
        try:
            await services.limiter.hit_and_put(TOKEN_PER_CLIENT, bucket, [])
        except RateLimited as exc:
            return _slow_down(exc)
        refreshed = await _refresh_on_the_loop(services, http_request)
        if refreshed is not None:
            return refreshed
        return await _on_grant_threads(request, _stored_token_response, services, http_request)  # counted already
    return await _on_grant_threads(request, _limited_token_response, services, bucket, http_request)


async def _on_grant_threads(request: Request, grant: Callable[..., Response], *args: object) -> Response:
    """Run a grant that blocks on storage on the token endpoint's own few threads
    (``IDENTITY_TOKEN_THREADS``), not the 40 of the shared threadpool: a grant mostly waits on short
    round trips, and 40 threads contending for the GIL and for the pools' locks cost more CPU than
    they overlap (measured here: code exchange ≈290 → ≈340–370 req/CPU-s with 8; docs/operations.md)."""
    limiter: anyio.CapacityLimiter = request.app.state.grant_threads
    return await anyio.to_thread.run_sync(lambda: grant(*args), limiter=limiter)


async def _refresh_on_the_loop(services: Services, http_request: HttpRequest) -> Response | None:
    """The refresh grant without leaving the event loop; None when it needs the threadpool path."""
    try:
        response, records = _token_response(services, http_request, offline=True)  # an error answer
    except RotationNeeded as needed:
        rotated = await services.oauth.refresh_tokens.rotate_async(needed.token, needed.client_id)
        if rotated is None:
            return None  # not claimed: the general path says why (and detects reuse)
        response, records = services.oauth.finish_refresh(needed, rotated)
    except StorageNeeded:
        return None  # an uncached client, or a scope parameter (the general path checks it)
    await services.store.put_many_async(records)
    return response


def _limited_token_response(services: Services, bucket: str, http_request: HttpRequest) -> Response:
    try:
        services.limiter.hit(TOKEN_PER_CLIENT, bucket)
    except RateLimited as exc:
        return _slow_down(exc)
    return _stored_token_response(services, http_request)


def _stored_token_response(services: Services, http_request: HttpRequest) -> Response:
    """authlib's answer, sent only once the records of what it issued are stored."""
    response, records = _token_response(services, http_request, offline=False)
    services.store.put_many(records)
    issued = replayed_while_issuing(services.store, records)
    if issued is not None:
        # The code was replayed while this exchange was issuing: neither copy gets tokens.
        services.oauth.revoke_issued_from_code(issued, reason="code_replayed")
        return JSONResponse({"error": "invalid_grant", "error_description": "The authorization code was reused."},
                            status_code=400, headers=_NO_STORE)
    return response


def _claimed_client_id(request: Request, http_request: HttpRequest) -> str:
    """The client the request says it is (not yet authenticated: only used to pick a rate-limit bucket)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            # RFC 6749 §2.3.1: the client id is form-urlencoded inside Basic, as authlib reads it.
            username = base64.b64decode(value, validate=True).decode("utf-8", "replace").split(":", 1)[0]
            return unquote_plus(username)[:100]
        except ValueError:
            return "?"
    return dict(http_request.form).get("client_id", "?")[:100]


async def _authlib_endpoint(request: Request, path: str, name: str) -> Response:
    http_request = await read_form(request, path)
    if isinstance(http_request, Response):
        return http_request
    services: Services = request.app.state.services
    return await run_in_threadpool(guarded, services.oauth.endpoint_response, name, http_request)


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    return await _authlib_endpoint(request, "/revoke", "revocation")
