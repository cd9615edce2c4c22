"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from identity_service.services import Services
from identity_service.storage.ephemeral import StoreUnavailable

log = logging.getLogger(__name__)
router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def _check(services: Services) -> dict[str, str]:
    result = {"database": "ok", "store": "ok"}
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        result["database"] = "unavailable"
    try:
        services.store.ping()
    except StoreUnavailable as exc:
        log.warning("readiness: ephemeral store unavailable (%s)", exc)
        result["store"] = "unavailable"
    return result


@router.get("/readyz", summary="Database and ephemeral store are reachable")
def readyz(request: Request) -> Response:
    result = _check(request.app.state.services)  # a def route: FastAPI runs it in the threadpool
    ready = all(v == "ok" for v in result.values())
    headers = {} if ready else {"Retry-After": "5"}
    return JSONResponse({"status": "ready" if ready else "unavailable", **result},
                        status_code=200 if ready else 503, headers=headers)
