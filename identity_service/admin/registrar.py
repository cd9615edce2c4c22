"""Registrar API: police registration desks raise accounts to level 2, create level-2 accounts, and
lock, unlock or revoke accounts (DESIGN.md §1; docs/registrar.md).

Every request is authenticated by its own signed assertion (:mod:`.registrar_auth`) and carries a
``request_id`` idempotency key: the first answer is recorded with the action, in its transaction
(:mod:`identity_service.identity.registrar_requests`). Every error is RFC 9457 problem details with a machine-readable
``reason``. Numbers travel in bodies, never in URLs (no PII in access logs).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from identity_service.admin.registrar_auth import RegistrarAuthFailed, RegistrarCaller, authenticate_registrar
from identity_service.identity.account_status import (
    AccountNotFound,
    StatusAction,
    StatusChangeRefused,
    StatusOutcome,
    change_status_at_desk,
)
from identity_service.identity.cccd import InvalidCccd, parse_cccd
from identity_service.identity.enrollment import InvalidPhone, normalise_phone
from identity_service.identity.level_evidence import (
    AccountNotFound as NoAccountToUpgrade,
)
from identity_service.identity.level_evidence import (
    EvidenceRefused,
    InPersonEvidence,
    LevelGrant,
    LevelGrantRefused,
    RegistrarRequest,
)
from identity_service.identity.otp import OtpError
from identity_service.identity.registrar_requests import (
    AlreadyAnswered,
    IdempotencyKey,
    IdempotentRequest,
    RecordedAnswer,
    RequestIdReused,
)
from identity_service.identity.sms import SmsUnavailable
from identity_service.services import Services

log = logging.getLogger(__name__)
router = APIRouter(prefix="/registrar", tags=["Registrar"])
Body = TypeVar("Body", bound=BaseModel)
Outcome = TypeVar("Outcome")
_ID = r"^[A-Za-z0-9._:-]{8,64}$"
_AUTH_NOTE = ("Authenticate with `Authorization: Bearer <assertion>`: a JWT signed with the registrar client's "
              "registered key, `aud` = this endpoint's URL, `officer_id`, `desk_id` and `body_sha256` "
              "(see docs/registrar.md). ")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=_ID, description="Idempotency key chosen by the desk (e.g. a UUID): a replay "
                                                     "returns the first answer; a different body with it is 409.")
    cccd: str = Field(pattern=r"^[0-9]{12}$", description="The citizen's 12-digit personal identification number.")


class LevelTwoEvidence(_Request):
    """What the officer checked in person with the chip card."""

    chip_data_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (lowercase hex) of the chip's data "
                                                                      "groups as read at the desk.")
    card_number: str = Field(pattern=r"^[0-9]{12}$", description="Document number on the chip card.")
    card_expiry: date = Field(description="Expiry date read from the chip.")
    face_check: str = Field(max_length=10, description="Result of the face comparison; only `match` is accepted.")
    fingerprint_check: str = Field(max_length=10, description="Result of the fingerprint comparison; only `match` "
                                                              "is accepted.")
    verified_at: AwareDatetime = Field(description="When the in-person check was done (at most 24 h ago).")
    phone: str = Field(max_length=32, description="The mobile number the citizen confirms at the desk. For an "
                                                  "upgrade that differs from the account's, the credentials chosen "
                                                  "online are not trusted with level 2: the phone is replaced, the "
                                                  "password and second factors are cleared, every session ends and "
                                                  "an activation code is sent to this phone.")


class CreateLevelTwoAccount(LevelTwoEvidence):
    """The same evidence for a citizen who never enrolled; the activation code goes to ``phone``."""


class StatusChange(_Request):
    reason: Literal["citizen_request", "card_revoked", "deceased", "authority_request"] = Field(
        description="The legal case for the lock or revocation.")


class Unlock(_Request):
    pass


def _problem(status: int, reason: str, detail: str, **extra: Any) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="registrar", error="invalid_token"'
    if status == 403:
        headers["WWW-Authenticate"] = 'Bearer realm="registrar", error="insufficient_scope", scope="registrar"'
    body = {"type": f"urn:eid:vn:problem:registrar:{reason}", "title": reason.replace("_", " ").capitalize(),
            "status": status, "detail": detail, "reason": reason, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _openapi(model: type[BaseModel]) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"type": "object"}}}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}},
        "responses": {str(code): {"description": text, "content": problem} for code, text in (
            (400, "Malformed body (`reason`: invalid_request, invalid_cccd, invalid_phone)"),
            (401, "Assertion missing, invalid, expired, replayed, or body hash mismatch"),
            (403, "The client lacks the registrar scope"),
            (404, "No account for this number (`account_not_found`)"),
            (409, "Account state or request_id conflict"),
            (422, "The evidence or the registry refuses level 2 (`reason` says which check)"))},
    }


async def _authenticated(request: Request, model: type[Body]) -> tuple[RegistrarCaller, Body] | Response:
    services: Services = request.app.state.services
    body = await request.body()
    try:
        caller = await run_in_threadpool(authenticate_registrar, services, request.headers.get("authorization", ""),
                                         request.url.path, body)
    except RegistrarAuthFailed as exc:
        log.info("registrar request refused: %s", exc.reason)
        return _problem(exc.status, exc.reason, str(exc))
    try:
        parsed = model.model_validate_json(body)
        parse_cccd(getattr(parsed, "cccd"))  # noqa: B009 - every body model has it
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return _problem(400, "invalid_request", "The request body is not valid.", errors=errors)
    except InvalidCccd as exc:
        return _problem(400, "invalid_cccd", str(exc), part=exc.part)
    return caller, parsed


def _desk_request(caller: RegistrarCaller, body: _Request) -> RegistrarRequest:
    return RegistrarRequest(caller.client_id, caller.officer_id, caller.desk_id, body.request_id)


def _evidence(body: LevelTwoEvidence) -> InPersonEvidence:
    return InPersonEvidence(body.chip_data_hash, body.card_number, body.card_expiry, body.face_check,
                            body.fingerprint_check, body.verified_at)


def _grant_refused(exc: LevelGrantRefused) -> Response:
    status = 422 if isinstance(exc, EvidenceRefused) else 404 if isinstance(exc, NoAccountToUpgrade) else 409
    return _problem(status, exc.reason, str(exc))


def _grant_body(body: _Request, grant: LevelGrant, **extra: Any) -> dict[str, Any]:
    return {"request_id": body.request_id, "action": grant.action, "level": grant.level,
            "level_verified_at": grant.level_verified_at.isoformat(), "evidence_id": grant.evidence_id, **extra}


def _replay_headers(replayed: bool) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _body_sha256(body: BaseModel) -> str:
    """SHA-256 of the body as understood, not as sent: key order, spacing and the offset a time was
    written in do not make two requests different (a replay sent with +07:00 is the same request)."""
    def canonical(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return value.isoformat() if isinstance(value, date) else value

    data = {name: canonical(value) for name, value in body.model_dump().items()}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _idempotent(caller: RegistrarCaller, body: _Request, action: str, status: int,
                answer: Callable[[Outcome], dict[str, Any]]) -> IdempotentRequest[Outcome]:
    key = IdempotencyKey(caller.client_id, body.request_id, action, _body_sha256(body))
    return IdempotentRequest(key, status, answer)


def _replayed(answer: RecordedAnswer) -> Response:
    return JSONResponse(answer.body, status_code=answer.status, headers=_replay_headers(True))


def _reused(exc: RequestIdReused) -> Response:
    return _problem(409, exc.reason, str(exc))


@router.post("/level2", summary="Raise an account to level 2 after the in-person check",
             description=_AUTH_NOTE + "The chip data must agree with the population registry (card number and "
             "expiry, card valid and not expired, person alive); face and fingerprint checks must be `match`. "
             "Writes one evidence row and one audit event. If `phone` differs from the account's, the credentials "
             "chosen online are reset (`credentials_reset: true`): see `phone`.",
             openapi_extra=_openapi(LevelTwoEvidence))
async def raise_to_level2(request: Request, background: BackgroundTasks) -> Response:
    checked = await _authenticated(request, LevelTwoEvidence)
    if isinstance(checked, Response):
        return checked
    caller, body = checked
    services: Services = request.app.state.services
    idempotency: IdempotentRequest[LevelGrant] = _idempotent(
        caller, body, "upgrade", 200, lambda grant: _grant_body(body, grant, credentials_reset=grant.credentials_reset))
    try:
        phone = normalise_phone(body.phone)
        grant = await run_in_threadpool(services.level_two.upgrade, body.cccd, phone, _evidence(body),
                                        _desk_request(caller, body), idempotency)
    except InvalidPhone as exc:
        return _problem(400, "invalid_phone", str(exc))
    except AlreadyAnswered as replay:
        return _replayed(replay.answer)
    except RequestIdReused as exc:
        return _reused(exc)
    except LevelGrantRefused as exc:
        return _grant_refused(exc)
    answer = _grant_body(body, grant, credentials_reset=grant.credentials_reset)
    if grant.credentials_reset and not grant.replayed:
        # Whoever chose the online password loses every session and token with it.
        deliveries = await run_in_threadpool(services.account_access.end, grant.account_id, "credentials_reset")
        if deliveries:
            background.add_task(services.backchannel.deliver, deliveries)
        answer["activation_code_sent"] = await run_in_threadpool(_send_activation_code, services, grant.account_id)
    # Otherwise sessions and tokens issued at level 1 stay level 1 (their acr); nothing to end.
    log.info("account raised to level 2 by a registrar")
    return JSONResponse(answer, headers=_replay_headers(grant.replayed))


@router.post("/accounts", status_code=201, summary="Create an account at level 2 for a citizen who never enrolled",
             description=_AUTH_NOTE + "Same checks as `/registrar/level2`. The account has no password: an activation "
             "code is sent by SMS to `phone`, and the citizen sets a password with it (`POST /api/activation`). "
             "A replay re-sends the code while the account is not yet activated (60 s cooldown).",
             openapi_extra=_openapi(CreateLevelTwoAccount))
async def create_at_level2(request: Request) -> Response:
    checked = await _authenticated(request, CreateLevelTwoAccount)
    if isinstance(checked, Response):
        return checked
    caller, body = checked
    services: Services = request.app.state.services
    idempotency: IdempotentRequest[LevelGrant] = _idempotent(caller, body, "create", 201,
                                                             lambda grant: _grant_body(body, grant))
    try:
        phone = normalise_phone(body.phone)
        grant = await run_in_threadpool(services.level_two.create, body.cccd, phone, _evidence(body),
                                        _desk_request(caller, body), idempotency)
    except InvalidPhone as exc:
        return _problem(400, "invalid_phone", str(exc))
    except AlreadyAnswered as replay:
        # The recorded answer, with whether the code was sent again now (while the account is not activated).
        sent = await run_in_threadpool(_send_activation_code, services, replay.answer.account_id)
        return _replayed(RecordedAnswer(replay.answer.status, {**replay.answer.body, "activation_code_sent": sent},
                                        replay.answer.account_id))
    except RequestIdReused as exc:
        return _reused(exc)
    except LevelGrantRefused as exc:
        return _grant_refused(exc)
    sent = await run_in_threadpool(_send_activation_code, services, grant.account_id)
    return JSONResponse(_grant_body(body, grant, activation_code_sent=sent),
                        status_code=201, headers=_replay_headers(grant.replayed))


def _send_activation_code(services: Services, account_id: str) -> bool:
    """Text a code to the account's recorded phone while it waits for activation (never to a request's)."""
    try:
        return services.activations.send_code(account_id)
    except (SmsUnavailable, OtpError) as exc:
        log.warning("activation code not sent: %s", type(exc).__name__)
        return False


def _status_body(body: _Request, outcome: StatusOutcome) -> dict[str, Any]:
    return {"request_id": body.request_id, "action": outcome.action.value, "status": outcome.status,
            "status_reason": outcome.reason, "recorded_at": outcome.recorded_at.isoformat()}


async def _change_status(request: Request, background: BackgroundTasks, action: StatusAction,
                         model: type[_Request]) -> Response:
    checked = await _authenticated(request, model)
    if isinstance(checked, Response):
        return checked
    caller, body = checked
    services: Services = request.app.state.services
    reason = getattr(body, "reason", None)
    idempotency: IdempotentRequest[StatusOutcome] = _idempotent(caller, body, action.value, 200,
                                                                lambda outcome: _status_body(body, outcome))
    try:
        outcome: StatusOutcome = await run_in_threadpool(change_status_at_desk, services.account_access, body.cccd,
                                                         action, reason, _desk_request(caller, body), idempotency)
    except AlreadyAnswered as replay:
        return _replayed(replay.answer)
    except RequestIdReused as exc:
        return _reused(exc)
    except AccountNotFound as exc:
        return _problem(404, exc.reason, str(exc))
    except StatusChangeRefused as exc:
        return _problem(409, exc.reason, str(exc))
    if outcome.logouts:
        # Back-Channel Logout 1.0: every client of the ended sessions is told, after the answer is sent.
        background.add_task(services.backchannel.deliver, list(outcome.logouts))
    return JSONResponse(_status_body(body, outcome), headers=_replay_headers(False))


@router.post("/lock", summary="Lock an account (sessions and tokens end at once)",
             description=_AUTH_NOTE + "Login is refused with a reason-specific message until a desk unlocks it.",
             openapi_extra=_openapi(StatusChange))
async def lock(request: Request, background: BackgroundTasks) -> Response:
    return await _change_status(request, background, StatusAction.LOCK, StatusChange)


@router.post("/unlock", summary="Unlock a locked account", description=_AUTH_NOTE + "Old sessions and tokens stay "
             "ended; the citizen logs in again. An account locked as `deceased` cannot be unlocked.",
             openapi_extra=_openapi(Unlock))
async def unlock(request: Request, background: BackgroundTasks) -> Response:
    return await _change_status(request, background, StatusAction.UNLOCK, Unlock)


@router.post("/revoke", summary="Revoke an account for good (sessions and tokens end at once)",
             description=_AUTH_NOTE + "Revocation is final.", openapi_extra=_openapi(StatusChange))
async def revoke(request: Request, background: BackgroundTasks) -> Response:
    return await _change_status(request, background, StatusAction.REVOKE, StatusChange)
