"""The enrollment JSON API: the whole flow, and RFC 9457 problem details for every refusal."""

from __future__ import annotations

import json

import pytest

from tests.factories import make_citizen
from tests.harness import Harness


def _code(harness: Harness) -> str:
    outbox = harness.services.settings.data_dir / "sms_outbox.jsonl"
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["message"]
    return next(w for w in message.replace(".", " ").split() if w.isdigit() and len(w) == 6)


def test_enrollment_api_creates_a_level1_account(harness: Harness) -> None:
    citizen = make_citizen(harness.engine)
    started = harness.client.post("/api/enrollment", json={
        "cccd": citizen.cccd, "full_name": citizen.full_name, "birth_date": citizen.birth_date.isoformat(),
        "phone": "0912345678"})
    assert started.status_code == 201, started.text
    enrollment = started.json()["enrollment_id"]
    assert harness.client.post(f"/api/enrollment/{enrollment}/verify", json={"code": _code(harness)}).status_code == 204
    created = harness.client.post(f"/api/enrollment/{enrollment}/password", json={"password": "cây-đa-đầu-làng-xưa"})
    assert created.status_code == 201
    assert created.json() == {"level": 1, "status": "active"}
    again = harness.client.post("/api/enrollment", json={
        "cccd": citizen.cccd, "full_name": citizen.full_name, "birth_date": citizen.birth_date.isoformat(),
        "phone": "0912345678"})
    assert again.status_code == 409
    assert again.json()["code"] == "already_enrolled"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"cccd": "12345", "full_name": "A", "birth_date": "1990-01-01", "phone": "0912345678"}, 400,
     "invalid_cccd.length"),
    ({"cccd": "003190123456", "full_name": "A", "birth_date": "1990-01-01", "phone": "0912345678"}, 400,
     "invalid_cccd.province"),
    ({"cccd": "079190000001", "full_name": "A", "birth_date": "1990-01-01", "phone": "0912345678"}, 400,
     "registry.not_found"),
    ({"cccd": "079190000001", "full_name": "A", "birth_date": "1990-01-01", "phone": "12"}, 400, "invalid_phone"),
])
def test_refusals_are_problem_details_with_a_stable_code(
    harness: Harness, body: dict[str, str], status: int, code: str
) -> None:
    response = harness.client.post("/api/enrollment", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["title"]


@pytest.mark.parametrize("body", [
    {}, {"cccd": 1}, {"cccd": "001190123456", "full_name": "A", "birth_date": "not-a-date", "phone": "0912345678"},
    {"cccd": "1" * 100, "full_name": "A", "birth_date": "1990-01-01", "phone": "0912345678"},
])
def test_malformed_json_bodies_are_400_problem_details(harness: Harness, body: dict[str, object]) -> None:
    response = harness.client.post("/api/enrollment", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


def test_unknown_enrollment_is_404(harness: Harness) -> None:
    response = harness.client.post("/api/enrollment/nope/verify", json={"code": "123456"})
    assert response.status_code == 404
    assert response.json()["code"] == "enrollment.not_found"


def test_readiness_reports_storage(harness: Harness) -> None:
    assert harness.client.get("/healthz").json() == {"status": "ok"}
    ready = harness.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
