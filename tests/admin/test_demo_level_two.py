"""The embedded demo lets a newcomer try level 2: a seeded level-2 citizen logs in to the demo hospital
with the SMS second factor, and a seeded registration desk holds a key generated in the data dir."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from identity_service.admin.demo import DEMO_REGISTRAR_ID, seed_demo
from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.services import build_services
from identity_service.storage.database import make_engine
from identity_service.storage.ephemeral import make_store
from identity_service.storage.migrations import upgrade_database
from identity_service.storage.models import Account, AuditEvent, Client, LevelEvidence
from tests.factories import FAST_HASHER
from tests.harness import pkce_pair
from tests.html_forms import form_posting_to, forms_in

HOSPITAL_CALLBACK = "http://localhost:8001/callback"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Settings, dict[str, Any]]]:
    """A fresh embedded data directory seeded as `identity-service serve` seeds it (twice: it is idempotent)."""
    root = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{(root / 'identity.db').as_posix()}"
    upgrade_database(url)
    engine = make_engine(url)
    settings = Settings(data_dir=root / "data", keys_dir=root / "keys", argon2_memory_kib=1024, argon2_time_cost=1)
    first = seed_demo(engine, settings, FAST_HASHER)
    again = seed_demo(engine, settings, FAST_HASHER)
    assert again == first
    yield engine, settings, first
    engine.dispose()


def test_the_level_two_citizen_was_raised_through_the_registrar_code(
        demo: tuple[Engine, Settings, dict[str, Any]]) -> None:
    engine, _, credentials = demo
    with Session(engine) as db:
        account = db.exec(select(Account).where(Account.cccd == credentials["account_level2"]["cccd"])).one()
        evidence = db.exec(select(LevelEvidence).where(LevelEvidence.account_id == account.id)).all()
        raised = db.exec(select(AuditEvent).where(AuditEvent.account_id == account.id,
                                                  col(AuditEvent.event) == "account.level_raised")).all()
    assert account.level == 2 and account.level_verified_at is not None
    assert [(e.registrar_client_id, e.officer_id, e.desk_id) for e in evidence] == [(DEMO_REGISTRAR_ID, "demo",
                                                                                      "demo")]
    assert len(raised) == 1  # seeding again wrote nothing
    assert credentials["account"]["cccd"] != account.cccd


def test_the_demo_desk_key_is_generated_private_and_registered(demo: tuple[Engine, Settings, dict[str, Any]]) -> None:
    engine, settings, credentials = demo
    key_file = Path(credentials["registrar"]["key_file"])
    assert key_file.parent == settings.data_dir and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private = json.loads(key_file.read_text())
    with Session(engine) as db:
        client = db.get(Client, DEMO_REGISTRAR_ID)
    assert client is not None and client.token_endpoint_auth_method == "private_key_jwt"
    assert client.allowed_scopes == "registrar" and client.client_secret_hash is None
    assert client.jwks == {"keys": [{k: v for k, v in private.items() if k != "d"}]}


def _sms_code(outbox: Path) -> str:
    message = json.loads(outbox.read_text(encoding="utf-8").strip().splitlines()[-1])["message"]
    match = re.search(r"\b(\d{6})\b", message)
    assert match, message
    return match.group(1)


def test_the_level_two_citizen_logs_in_to_the_hospital_at_level_two_with_an_sms_code(
        demo: tuple[Engine, Settings, dict[str, Any]]) -> None:
    engine, settings, credentials = demo
    services = build_services(settings, engine=engine, store=make_store(None, ""))
    citizen = credentials["account_level2"]
    hospital = credentials["clients"]["demo-hospital"]
    verifier, challenge = pkce_pair()
    with TestClient(create_app(settings, services), base_url=settings.issuer) as browser:
        query = urlencode({"response_type": "code", "client_id": "demo-hospital", "redirect_uri": HOSPITAL_CALLBACK,
                           "scope": "openid profile citizen_id", "state": "s", "nonce": "n",
                           "code_challenge": challenge, "code_challenge_method": "S256",
                           "acr_values": "urn:eid:vn:level2"})
        login_at = browser.get(f"/authorize?{query}", follow_redirects=False).headers["location"]
        form = form_posting_to(browser.get(login_at).text, "/login")
        logged_in = browser.post("/login", data={**form.fields, "cccd": citizen["cccd"],
                                                 "password": citizen["password"]}, follow_redirects=False)
        second_factor = logged_in.headers["location"]
        assert second_factor.startswith("/login/second-factor?req="), second_factor
        send = form_posting_to(browser.get(second_factor).text, "/login/second-factor/sms")
        sent_at = browser.post("/login/second-factor/sms", data=send.fields, follow_redirects=False)
        page = browser.get(sent_at.headers["location"]).text
        form = next(f for f in forms_in(page) if f.action == "/login/second-factor" and f.fields.get("method") == "sms")
        code_sent = _sms_code(settings.data_dir / "sms_outbox.jsonl")
        response = browser.post("/login/second-factor", data={**form.fields, "code": code_sent},
                                follow_redirects=False)
        location = response.headers["location"]
        for _ in range(5):
            if location.startswith(HOSPITAL_CALLBACK):
                break
            if location.startswith("/consent"):
                consent = form_posting_to(browser.get(location).text, "/consent")
                response = browser.post("/consent", data={**consent.fields, "decision": "allow"},
                                        follow_redirects=False)
            else:
                response = browser.get(location, follow_redirects=False)
            location = response.headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": HOSPITAL_CALLBACK, "code_verifier": verifier},
                              auth=("demo-hospital", hospital["client_secret"])).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["acr"] == "urn:eid:vn:level2" and claims["identity_level"] == 2
    assert claims["amr"] == ["pwd", "sms", "mfa"]
