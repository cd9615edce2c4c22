"""Test data built through the real storage layer (synthetic people only)."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from identity_service.security.client_secrets import hash_client_secret
from identity_service.security.passwords import PasswordHasher
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, Client

FAST_HASHER = PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1)


def cccd_for(birth: date, sex: str, province: str = "001") -> str:
    """A valid, random 12-digit number consistent with ``birth`` and ``sex``."""
    century = {1800: 8, 1900: 0, 2000: 2, 2100: 4, 2200: 6}[birth.year // 100 * 100]
    g = century + (1 if sex == "female" else 0)
    return f"{province}{g}{birth.year % 100:02d}{secrets.randbelow(1_000_000):06d}"


def make_citizen(engine: Engine, **overrides: object) -> Citizen:
    birth = overrides.pop("birth_date", date(1990, 5, 17))
    sex = overrides.pop("sex", "female")
    assert isinstance(birth, date) and isinstance(sex, str)
    values: dict[str, object] = {
        "cccd": cccd_for(birth, sex),
        "full_name": "Nguyễn Thị Lan",
        "family_name": "Nguyễn",
        "given_name": "Lan",
        "birth_date": birth,
        "sex": sex,
        "place_of_residence": "12 Phố Huế, Hai Bà Trưng, Hà Nội",
        "card_number": f"{secrets.randbelow(10**12):012d}",
        "card_expiry": date.today() + timedelta(days=3650),
        "card_status": "valid",
        "deceased": False,
    }
    values.update(overrides)
    citizen = Citizen(**values)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        session.add(citizen)
    return citizen


def make_account(engine: Engine, citizen: Citizen, password: str, level: int = 1) -> Account:
    account = Account(cccd=citizen.cccd, phone="+84912345678", password_hash=FAST_HASHER.hash(password),
                      level=level)
    with session_scope(engine) as session:
        session.add(account)
    return account


def make_client(
    engine: Engine,
    redirect_uri: str,
    scopes: str = "openid profile citizen_id phone",
    subject_type: str = "pairwise",
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    auth_method: str = "client_secret_basic",
    jwks: dict[str, object] | None = None,
) -> tuple[str, str]:
    """Register a confidential client; returns ``(client_id, client_secret)``."""
    client_id = f"test-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        stored_secret = hash_client_secret(secret) if auth_method.startswith("client_secret") else None
        session.add(Client(client_id=client_id, client_secret_hash=stored_secret, name="Test RP",
                           token_endpoint_auth_method=auth_method, jwks=jwks,
                           redirect_uris=[redirect_uri], allowed_scopes=scopes, subject_type=subject_type,
                           sector_identifier="rp.example", grant_types=list(grant_types)))
    return client_id, secret
