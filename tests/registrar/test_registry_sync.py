"""Level goes down when the registry changes: expired or revoked card → level 1; deceased → revoked."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from identity_service.cli.main import app
from identity_service.identity.registry_io import COLUMNS
from identity_service.identity.registry_sync import sync_with_registry
from identity_service.storage.database import make_engine, session_scope
from identity_service.storage.models import Account, AuditEvent, Citizen
from tests.cli_database import use_fresh_cli_database
from tests.factories import make_account, make_citizen
from tests.harness import PASSWORD, Harness

YESTERDAY = date.today() - timedelta(days=1)


def _level_two(harness: Harness, **registry: Any) -> Account:
    citizen = make_citizen(harness.engine, **registry)
    return make_account(harness.engine, citizen, PASSWORD, level=2)


def _reload(harness: Harness, account_id: str) -> Account:
    with Session(harness.engine) as session:
        account = session.get(Account, account_id)
    assert account is not None
    return account


def _events(harness: Harness, account_id: str) -> list[AuditEvent]:
    with Session(harness.engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.account_id == account_id)
                                 .order_by(col(AuditEvent.id))))


def test_sync_lowers_an_expired_card_to_level_1_and_revokes_a_deceased_account(harness: Harness) -> None:
    expired = _level_two(harness, card_expiry=YESTERDAY)
    revoked_card = _level_two(harness, card_status="revoked")
    deceased = _level_two(harness, deceased=True)
    valid = _level_two(harness)
    report = sync_with_registry(harness.engine, harness.services.account_access)
    assert report.changes["level_lowered:card_expired"] >= 1 and report.changes["revoked:deceased"] >= 1

    assert _reload(harness, expired.id).level == 1 and _reload(harness, expired.id).status == "active"
    [event] = [e for e in _events(harness, expired.id) if e.event == "account.level_lowered"]
    assert event.details["reason"] == "card_expired"
    assert _reload(harness, revoked_card.id).level == 1
    gone = _reload(harness, deceased.id)
    assert (gone.status, gone.status_reason) == ("revoked", "deceased")
    assert _reload(harness, valid.id).level == 2

    again = sync_with_registry(harness.engine, harness.services.account_access)
    assert len([e for e in _events(harness, expired.id) if e.event == "account.level_lowered"]) == 1
    assert again.changes["revoked:deceased"] == 0 or _reload(harness, deceased.id).status == "revoked"


def test_tokens_of_a_person_recorded_deceased_stop_working(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    tokens = harness.exchange(code, verifier).json()  # type: ignore[attr-defined]
    with session_scope(harness.engine) as session:
        citizen = session.get(Citizen, harness.cccd)
        assert citizen is not None
        citizen.deceased = True
        session.add(citizen)
    sync_with_registry(harness.engine, harness.services.account_access)
    introspected = harness.client.post("/introspect", data={"token": tokens["access_token"]},
                                       auth=(harness.client_id, harness.client_secret)).json()
    assert introspected == {"active": False}
    refreshed = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]},
                                    auth=(harness.client_id, harness.client_secret))
    assert refreshed.status_code == 400


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_fresh_cli_database(tmp_path, monkeypatch)


def test_registry_sync_command_downgrades_and_revokes(cli_env: str) -> None:
    engine = make_engine(cli_env)
    expired = make_account(engine, make_citizen(engine, card_expiry=YESTERDAY), PASSWORD, level=2)
    deceased = make_account(engine, make_citizen(engine, deceased=True), PASSWORD, level=2)
    result = CliRunner().invoke(app, ["registry", "sync"])
    assert result.exit_code == 0, result.output
    assert "level_lowered:card_expired" in result.output and "revoked:deceased" in result.output
    with Session(engine) as session:
        assert session.get(Account, expired.id).level == 1  # type: ignore[union-attr]
        assert session.get(Account, deceased.id).status == "revoked"  # type: ignore[union-attr]
    engine.dispose()


def test_registry_import_applies_the_same_rules_to_changed_rows(cli_env: str, tmp_path: Path) -> None:
    engine = make_engine(cli_env)
    citizen = make_citizen(engine)
    account = make_account(engine, citizen, PASSWORD, level=2)
    path = tmp_path / "registry.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        row = {c: getattr(citizen, c) for c in COLUMNS}
        row.update(birth_date=citizen.birth_date.isoformat(), card_expiry=citizen.card_expiry.isoformat(),
                   card_status="revoked", deceased="false")
        writer.writerow(row)
    result = CliRunner().invoke(app, ["registry", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "level_lowered:card_revoked" in result.output, result.output
    with Session(engine) as session:
        assert session.get(Account, account.id).level == 1  # type: ignore[union-attr]
    engine.dispose()
