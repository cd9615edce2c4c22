"""The example desk (clients/examples/registrar_desk.py) against a live provider: a real signed
registrar request raises an enrolled account to level 2 with the demo desk's generated key."""

from __future__ import annotations

import csv
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from clients.examples import registrar_desk
from identity_service.admin.demo import DEMO_REGISTRAR_ID, seed_registrar_desk
from identity_service.identity.registry_io import COLUMNS
from identity_service.storage.models import Account, Citizen, LevelEvidence
from tests.factories import make_account, make_citizen
from tests.live_provider import Provider

PASSWORD = "nắng-vàng-trên-phố-cổ-hội-an"


def _demo_data_dir(provider: Provider, citizen: Citizen) -> Path:
    """What `identity-service serve` leaves in the data dir: the desk's key, credentials, the registry file."""
    data_dir = provider.settings.data_dir
    registrar = seed_registrar_desk(provider.engine, data_dir)
    (data_dir / "demo_credentials.json").write_text(json.dumps({"registrar": registrar}), encoding="utf-8")
    with (data_dir / "demo_registry.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow({c: getattr(citizen, c) for c in COLUMNS})
    return data_dir


def _account(provider: Provider, cccd: str) -> Account:
    with Session(provider.engine) as db:
        return db.exec(select(Account).where(Account.cccd == cccd)).one()


def test_the_desk_example_raises_an_enrolled_account_to_level_two(
        provider: Provider, capsys: pytest.CaptureFixture[str]) -> None:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    data_dir = _demo_data_dir(provider, citizen)
    key_file = data_dir / "demo_registrar_desk.jwk.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and "d" in json.loads(key_file.read_text())

    checked_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    args = [citizen.cccd, "--phone", "0912345678", "--issuer", provider.base_url, "--data-dir", str(data_dir),
            "--request-id", "desk-example-0001", "--verified-at", checked_at]
    assert registrar_desk.main(args) == 0, capsys.readouterr()
    account = _account(provider, citizen.cccd)
    assert account.level == 2 and account.level_verified_at is not None
    with Session(provider.engine) as db:
        [evidence] = db.exec(select(LevelEvidence).where(LevelEvidence.account_id == account.id)).all()
    assert (evidence.registrar_client_id, evidence.officer_id, evidence.desk_id) == (
        DEMO_REGISTRAR_ID, "demo-officer", "demo-desk")
    assert evidence.card_number == citizen.card_number

    # The same request again (a retry after a lost answer) is the recorded answer, not a second grant.
    capsys.readouterr()
    assert registrar_desk.main(args) == 0
    assert "HTTP 200 (replayed)" in capsys.readouterr().out
    # The same request_id for another check (another time) is a different request: refused, nothing written.
    later = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0).isoformat()
    assert registrar_desk.main([*args[:-1], later]) == 1
    assert '"request_id_reused"' in capsys.readouterr().out


def test_a_card_that_is_not_the_registrys_is_refused(provider: Provider, capsys: pytest.CaptureFixture[str]) -> None:
    citizen = make_citizen(provider.engine)
    make_account(provider.engine, citizen, PASSWORD)
    data_dir = _demo_data_dir(provider, citizen)
    wrong = [citizen.cccd, "--phone", "0912345678", "--issuer", provider.base_url, "--data-dir", str(data_dir),
             "--card-number", "000000000000", "--card-expiry", citizen.card_expiry.isoformat()]
    assert registrar_desk.main(wrong) == 1
    assert '"card_number_mismatch"' in capsys.readouterr().out
    assert _account(provider, citizen.cccd).level == 1
