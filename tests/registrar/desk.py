"""A registration desk for tests: a registrar client with a key made at run time, signing each request."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from identity_service.storage.models import Account, Citizen
from tests.factories import make_client
from tests.harness import ISSUER, PASSWORD, REDIRECT_URI, Harness
from tests.html_forms import form_posting_to


def new_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    public_jwk.update(kid=f"desk-{secrets.token_hex(4)}", alg="ES256", use="sig")
    return private, public_jwk


@dataclass
class Desk:
    harness: Harness
    client_id: str
    key: ec.EllipticCurvePrivateKey
    kid: str

    def assertion(self, path: str, body: bytes, key: Any = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id, "sub": self.client_id, "aud": f"{ISSUER}{path}", "iat": now, "exp": now + 60,
            "jti": secrets.token_urlsafe(12), "officer_id": "CA-HN-004512", "desk_id": "HN-HBT-03",
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": self.kid})

    def post(self, path: str, body: dict[str, Any], assertion: str | None = None, **overrides: Any) -> httpx.Response:
        raw = json.dumps(body).encode()
        token = assertion or self.assertion(path, raw, **overrides)
        return self.harness.client.post(path, content=raw, headers={"Authorization": f"Bearer {token}",
                                                                    "Content-Type": "application/json"})


@pytest.fixture
def desk(harness: Harness) -> Desk:
    private, public_jwk = new_key()
    client_id, _ = make_client(harness.engine, REDIRECT_URI, scopes="registrar", grant_types=("client_credentials",),
                               auth_method="private_key_jwt", jwks={"keys": [public_jwk]})
    return Desk(harness, client_id, private, public_jwk["kid"])


def citizen_of(harness: Harness, cccd: str | None = None) -> Citizen:
    with Session(harness.engine) as session:
        citizen = session.get(Citizen, cccd or harness.cccd)
    assert citizen is not None
    return citizen


def account_of(harness: Harness, cccd: str | None = None) -> Account:
    with Session(harness.engine) as session:
        account = session.exec(select(Account).where(Account.cccd == (cccd or harness.cccd))).first()
    assert account is not None
    return account


def evidence_for(citizen: Citizen, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": secrets.token_hex(16), "cccd": citizen.cccd,
        "chip_data_hash": hashlib.sha256(f"chip:{citizen.card_number}".encode()).hexdigest(),
        "card_number": citizen.card_number, "card_expiry": citizen.card_expiry.isoformat(),
        "face_check": "match", "fingerprint_check": "match",
        "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "phone": "+84912345678",  # the phone tests.factories gives every account: confirmed at the desk
    }
    body.update(overrides)
    return body


def login(harness: Harness, cccd: str | None = None, password: str = PASSWORD) -> httpx.Response:
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    form.fields.update(cccd=cccd or harness.cccd, password=password)
    return harness.client.post("/login", data=form.fields, follow_redirects=False)
