"""Embedded-default demo data: a synthetic registry, a level-1 and a level-2 citizen, a hospital, a
portal and a registration desk.

Synthetic only (Faker vi_VN): never real people's data. Credentials are kept in the data
directory (0600) so each development start can print them again; production never seeds. The
level-2 citizen is raised through the registrar's own domain code (officer and desk ``demo``), so
its evidence row and audit event look like any desk's. The desk's private key is generated into the
data directory at first start (0600, never committed) for ``clients/examples/registrar_desk.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.admin.clients import REGISTRAR_SCOPE
from identity_service.config import Settings
from identity_service.identity.audit import record_event
from identity_service.identity.level_evidence import (
    InPersonEvidence,
    LevelGrantRefused,
    LevelTwoRegistrations,
    RegistrarRequest,
)
from identity_service.identity.registry_io import generate_registry_csv, import_registry_csv
from identity_service.security.client_secrets import hash_client_secret, new_client_secret
from identity_service.security.passwords import PasswordHasher
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, Client

DEMO_REGISTRY_SIZE = 1000
DEMO_REGISTRAR_ID = "demo-registrar-desk"
DEMO_REGISTRAR_KEY_FILE = "demo_registrar_desk.jwk.json"  # in the data dir; a private JWK, 0600


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    name: str
    redirect_uri: str
    scopes: str
    min_level: int
    post_logout_redirect_uri: str
    backchannel_logout_uri: str | None = None


# The example relying parties in clients/examples/ listen on these addresses (see its README).
DEMO_CLIENTS = (
    DemoClient("demo-hospital", "Bệnh viện Demo (Demo Hospital)", "http://localhost:8001/callback",
               "openid profile citizen_id phone", 1, "http://localhost:8001/"),
    DemoClient("demo-portal", "Cổng dịch vụ công Demo (Demo Public Service Portal)",
               "http://localhost:8002/callback", "openid profile citizen_id phone email address", 1,
               "http://localhost:8002/logged-out", "http://localhost:8002/backchannel-logout"),
)


def _write_private(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)


def _seed_registry(engine: Engine, data_dir: Path) -> None:
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(Citizen)).one()
    if count:
        return
    csv_path = data_dir / "demo_registry.csv"
    generate_registry_csv(csv_path, DEMO_REGISTRY_SIZE, seed=2024)
    import_registry_csv(engine, csv_path)


def _usable_citizens(engine: Engine, limit: int) -> list[Citizen]:
    with Session(engine) as session:
        rows = session.exec(
            select(Citizen)
            .where(Citizen.card_status == "valid", Citizen.deceased == False)  # noqa: E712
            .order_by(Citizen.cccd)
            .limit(limit * 4)
        ).all()
    today = date.today()
    return [c for c in rows if c.card_expiry > today][:limit]


def _demo_password() -> str:
    return "-".join(secrets.choice(["sen", "lua", "may", "song", "nui", "trang", "gio", "bien"])
                    for _ in range(4)) + "-" + str(secrets.randbelow(90) + 10)


def _seed_account(engine: Engine, hasher: PasswordHasher, citizen: Citizen, phone: str,
                  saved: object) -> dict[str, object] | None:
    """Enroll ``citizen`` with a new password unless an account exists; returns what to print."""
    with Session(engine) as session:
        existing = session.exec(select(Account).where(Account.cccd == citizen.cccd)).first()
    if existing is not None:
        return saved if isinstance(saved, dict) else None
    password = _demo_password()
    with session_scope(engine) as session:
        account = Account(cccd=citizen.cccd, phone=phone, password_hash=hasher.hash(password))
        session.add(account)
        session.flush()
        record_event(session, "account.enrolled", account_id=account.id, source="demo-seed")
    return {"cccd": citizen.cccd, "password": password, "phone": phone}


def _registrar_key(data_dir: Path) -> dict[str, Any]:
    """The demo desk's private JWK (ES256), generated at first start, 0600 (DESIGN.md §4: keys outside git)."""
    path = data_dir / DEMO_REGISTRAR_KEY_FILE
    if path.exists():
        key: dict[str, Any] = json.loads(path.read_text())
        return key
    private = ec.generate_private_key(ec.SECP256R1())
    key = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private))
    key.update(kid=f"demo-desk-{secrets.token_hex(4)}", alg="ES256", use="sig")
    _write_private(path, key)
    return key


def seed_registrar_desk(engine: Engine, data_dir: Path) -> dict[str, object]:
    """A registration desk (private_key_jwt, scope registrar) registered with the demo key's public half."""
    key = _registrar_key(data_dir)
    public = {k: v for k, v in key.items() if k != "d"}
    with session_scope(engine) as session:
        row = session.get(Client, DEMO_REGISTRAR_ID)
        if row is None:
            row = Client(client_id=DEMO_REGISTRAR_ID, name="Demo registration desk", sector_identifier="localhost",
                         redirect_uris=[], allowed_scopes=REGISTRAR_SCOPE, grant_types=["client_credentials"],
                         token_endpoint_auth_method="private_key_jwt")  # noqa: S106 - a method name
            record_event(session, "client.registered", client_id=DEMO_REGISTRAR_ID, source="demo-seed")
        row.jwks = {"keys": [public]}  # in step with the key file (a new data dir makes a new key)
        session.add(row)
    return {"client_id": DEMO_REGISTRAR_ID, "key_file": str(data_dir / DEMO_REGISTRAR_KEY_FILE)}


def demo_chip_evidence(citizen: Citizen, verified_at: datetime | None = None) -> InPersonEvidence:
    """What a desk would read from the synthetic citizen's chip card: the registry's card, matching."""
    return InPersonEvidence(
        chip_data_hash=hashlib.sha256(f"demo-chip:{citizen.cccd}:{citizen.card_number}".encode()).hexdigest(),
        card_number=citizen.card_number, card_expiry=citizen.card_expiry, face_check="match",
        fingerprint_check="match", verified_at=verified_at or datetime.now(UTC))


def _raise_to_level2(engine: Engine, citizen: Citizen) -> None:
    """Through the registrar's domain code: one evidence row and one audit event, officer/desk ``demo``."""
    with Session(engine) as session:
        account = session.exec(select(Account).where(Account.cccd == citizen.cccd)).first()
    if account is None or account.level == 2:
        return
    request = RegistrarRequest(DEMO_REGISTRAR_ID, "demo", "demo", f"demo-seed-level2-{citizen.cccd}")
    try:
        LevelTwoRegistrations(engine).upgrade(citizen.cccd, account.phone, demo_chip_evidence(citizen), request)
    except LevelGrantRefused:
        # The registry row changed since the demo was seeded (e.g. an imported file): keep level 1.
        return


def seed_demo(engine: Engine, settings: Settings, hasher: PasswordHasher) -> dict[str, object]:
    """Idempotent: creates what is missing and returns the credentials to print."""
    path = settings.data_dir / "demo_credentials.json"
    saved: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    _seed_registry(engine, settings.data_dir)
    clients: dict[str, object] = dict(saved.get("clients", {}))  # type: ignore[call-overload]
    with session_scope(engine) as session:
        for demo in DEMO_CLIENTS:
            row = session.get(Client, demo.client_id)
            # Keep the registration in step with DEMO_CLIENTS on every start (an older data directory
            # lacks the logout URIs), but mint a secret only for a new client or a lost credentials file.
            row_existed = row is not None and demo.client_id in clients
            row = row or Client(
                client_id=demo.client_id, name=demo.name, sector_identifier=urlsplit(demo.redirect_uri).netloc)
            row.post_logout_redirect_uris = [demo.post_logout_redirect_uri]
            row.backchannel_logout_uri = demo.backchannel_logout_uri
            if row_existed:
                session.add(row)
                continue
            secret = new_client_secret()
            row.client_secret_hash = hash_client_secret(secret)
            row.redirect_uris = [demo.redirect_uri]
            row.allowed_scopes = demo.scopes
            row.min_level = demo.min_level
            row.grant_types = ["authorization_code", "refresh_token"]
            session.add(row)
            record_event(session, "client.registered", client_id=demo.client_id, source="demo-seed")
            clients[demo.client_id] = {"client_secret": secret, "redirect_uri": demo.redirect_uri,
                                       "scopes": demo.scopes}
    registrar = seed_registrar_desk(engine, settings.data_dir)
    citizens = _usable_citizens(engine, 5)
    account_info = _seed_account(engine, hasher, citizens[0], "+84912345678", saved.get("account"))
    level2_info = _seed_account(engine, hasher, citizens[1], "+84987654321", saved.get("account_level2"))
    _raise_to_level2(engine, citizens[1])
    not_enrolled = [{"cccd": c.cccd, "full_name": c.full_name, "birth_date": c.birth_date.isoformat()}
                    for c in citizens[2:]]
    result: dict[str, object] = {"clients": clients, "account": account_info, "account_level2": level2_info,
                                 "registrar": registrar, "enroll_examples": not_enrolled}
    _write_private(path, result)
    return result
