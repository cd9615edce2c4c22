"""``identity-service accounts show|lock|unlock``: the operator's account actions, audited as ``operator``.

They run the same status rules and effects as a desk (identity/account_status.py): a lock ends the
account's sessions and tokens and sends back-channel logout to the clients of those sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from identity_service.cli.main import app
from identity_service.storage.database import make_engine
from identity_service.storage.models import Account, AuditEvent
from tests.account.browsers import log_in, new_browser, tokens_in
from tests.cli_database import use_fresh_cli_database
from tests.factories import make_account, make_citizen
from tests.harness import PASSWORD, Harness
from tests.receiving_rp import receiving_rp, verified_logout_token

runner = CliRunner()


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    engine = make_engine(use_fresh_cli_database(tmp_path, monkeypatch))
    yield engine
    engine.dispose()


def _status_events(engine: Engine, account_id: str) -> list[AuditEvent]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.account_id == account_id,
                                                     col(AuditEvent.event).startswith("account."))
                            .order_by(col(AuditEvent.id))).all())


def test_show_prints_level_status_and_factors_and_no_personal_data(cli_engine: Engine) -> None:
    citizen = make_citizen(cli_engine)
    make_account(cli_engine, citizen, PASSWORD, level=2)
    shown = runner.invoke(app, ["accounts", "show", citizen.cccd], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "level:          2" in shown.output and "status:         active" in shown.output
    assert "0 authenticator app(s), 0 recovery code(s)" in shown.output
    for personal in (citizen.full_name, citizen.family_name, "912345678", citizen.birth_date.isoformat()):
        assert personal not in shown.output


def test_lock_then_unlock_are_audited_as_the_operator(cli_engine: Engine) -> None:
    citizen = make_citizen(cli_engine)
    account = make_account(cli_engine, citizen, PASSWORD)
    locked = runner.invoke(app, ["accounts", "lock", citizen.cccd, "--reason", "authority_request"])
    assert locked.exit_code == 0, locked.output
    shown = runner.invoke(app, ["accounts", "show", citizen.cccd]).output
    assert "status:         locked" in shown and "status reason:  authority_request" in shown
    unlocked = runner.invoke(app, ["accounts", "unlock", citizen.cccd])
    assert unlocked.exit_code == 0, unlocked.output
    events = _status_events(cli_engine, account.id)
    assert [e.event for e in events] == ["account.locked", "account.unlocked"]
    assert all(e.details["actor"] == "operator" for e in events)
    assert events[0].details["reason"] == "authority_request"


def test_refusals_are_the_domain_rules_and_exit_non_zero(cli_engine: Engine) -> None:
    citizen = make_citizen(cli_engine)
    account = make_account(cli_engine, citizen, PASSWORD)
    unknown_reason = runner.invoke(app, ["accounts", "lock", citizen.cccd, "--reason", "because"])
    assert unknown_reason.exit_code == 1 and "invalid_reason" in unknown_reason.output
    not_locked = runner.invoke(app, ["accounts", "unlock", citizen.cccd])
    assert not_locked.exit_code == 1 and "account_not_locked" in not_locked.output
    assert runner.invoke(app, ["accounts", "lock", citizen.cccd, "--reason", "deceased"]).exit_code == 0
    deceased = runner.invoke(app, ["accounts", "unlock", citizen.cccd])
    assert deceased.exit_code == 1 and "deceased" in deceased.output
    assert _status_events(cli_engine, account.id)[-1].event == "account.locked"


def test_a_malformed_or_unknown_number_is_a_clear_error(cli_engine: Engine) -> None:
    malformed = runner.invoke(app, ["accounts", "show", "00119001234"], terminal_width=200)
    assert malformed.exit_code == 2 and "invalid number" in malformed.output
    stranger = make_citizen(cli_engine)  # in the registry, never enrolled
    unknown = runner.invoke(app, ["accounts", "lock", stranger.cccd, "--reason", "citizen_request"])
    assert unknown.exit_code == 1 and "account_not_found" in unknown.output


@pytest.mark.parametrize("harness", ["postgresql+redis"], indirect=True)
def test_an_operator_lock_ends_the_running_providers_sessions_and_tells_their_clients(
        harness: Harness, pg_url: str, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI shares the provider's PostgreSQL, Redis, keys and pairwise salt, as in production."""
    settings = harness.services.settings
    for name, value in {"IDENTITY_DATABASE_URL": pg_url, "IDENTITY_REDIS_URL": redis_url,
                        "IDENTITY_REDIS_PREFIX": redis_prefix, "IDENTITY_DATA_DIR": str(settings.data_dir),
                        "IDENTITY_KEYS_DIR": str(settings.keys_dir), "IDENTITY_ISSUER": settings.issuer}.items():
        monkeypatch.setenv(name, value)
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    with receiving_rp(harness) as rp:
        browser = new_browser(harness)
        log_in(browser, harness.cccd)
        tokens_in(browser, harness)
        sid = browser.cookies.get("ids_session")
        locked = runner.invoke(app, ["accounts", "lock", harness.cccd, "--reason", "citizen_request"])
        assert locked.exit_code == 0, locked.output
        assert "back-channel logout: 1 of 1 client(s) told" in locked.output
        [token] = rp.wait_for(1)
    assert verified_logout_token(harness, token)["sid"] == sid
    assert browser.get("/account", follow_redirects=False).headers["location"] == "/login"
    with Session(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
    assert account.status == "locked"
