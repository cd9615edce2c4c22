"""Embedded-default demo data: a synthetic registry, one enrolled citizen, a hospital and a portal.

Synthetic only (Faker vi_VN): never real people's data. Credentials are kept in the data
directory (0600) so each development start can print them again; production never seeds.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.config import Settings
from identity_service.identity.audit import record_event
from identity_service.identity.registry_io import generate_registry_csv, import_registry_csv
from identity_service.security.client_secrets import hash_client_secret, new_client_secret
from identity_service.security.passwords import PasswordHasher
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, Client

DEMO_REGISTRY_SIZE = 1000


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
    citizens = _usable_citizens(engine, 4)
    account_info = saved.get("account")
    with Session(engine) as session:
        existing = session.exec(select(Account).where(Account.cccd == citizens[0].cccd)).first()
    if existing is None:
        password = "-".join(secrets.choice(["sen", "lua", "may", "song", "nui", "trang", "gio", "bien"])
                            for _ in range(4)) + "-" + str(secrets.randbelow(90) + 10)
        with session_scope(engine) as session:
            account = Account(cccd=citizens[0].cccd, phone="+84912345678", password_hash=hasher.hash(password))
            session.add(account)
            session.flush()
            record_event(session, "account.enrolled", account_id=account.id, source="demo-seed")
        account_info = {"cccd": citizens[0].cccd, "password": password}
    not_enrolled = [{"cccd": c.cccd, "full_name": c.full_name, "birth_date": c.birth_date.isoformat()}
                    for c in citizens[1:]]
    result: dict[str, object] = {"clients": clients, "account": account_info, "enroll_examples": not_enrolled}
    _write_private(path, result)
    return result
