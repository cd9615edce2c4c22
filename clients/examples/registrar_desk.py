"""A police registration desk, reduced to one command: raise an enrolled account to level 2.

    python -m clients.examples.registrar_desk CCCD [--issuer URL] [--data-dir data]

It does what a desk application does after the officer has read the citizen's chip card and matched
face and fingerprints (docs/registrar.md): it builds the evidence body, signs a one-request assertion
with the desk's private key (``private_key_jwt``, RFC 7523 §3 claims plus ``officer_id``, ``desk_id``
and ``body_sha256``) and posts it to ``/registrar/level2``.

With the demo (``identity-service serve``), the desk is ``demo-registrar-desk`` and its private key is
``data/demo_registrar_desk.jwk.json`` (generated at first start, 0600). There is no chip reader here:
the "chip" is the citizen's row in the demo registry file ``data/demo_registry.csv`` (synthetic data),
or ``--card-number``/``--card-expiry``. Face and fingerprint results are ``match`` (synthetic evidence).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

from clients.examples.config import demo_credentials

LEVEL2_PATH = "/registrar/level2"


@dataclass(frozen=True)
class ChipCard:
    """What the desk reads from the chip: the document number and its expiry."""

    cccd: str
    card_number: str
    card_expiry: date


@dataclass(frozen=True)
class Desk:
    """A registrar client and its signing key, and who is at the desk."""

    issuer: str
    client_id: str
    private_jwk: dict[str, Any]
    officer_id: str = "demo-officer"
    desk_id: str = "demo-desk"

    def assertion(self, path: str, body: bytes) -> str:
        """One signed assertion for one request to ``path`` with exactly ``body`` (docs/registrar.md)."""
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": f"{self.issuer}{path}", "iat": now,
                  "exp": now + 60, "jti": str(uuid.uuid4()), "officer_id": self.officer_id,
                  "desk_id": self.desk_id, "body_sha256": hashlib.sha256(body).hexdigest()}
        key = jwt.PyJWK(self.private_jwk).key
        return jwt.encode(claims, key, algorithm=self.private_jwk.get("alg", "ES256"),
                          headers={"kid": self.private_jwk["kid"]})

    def post(self, path: str, body: dict[str, Any], http: httpx.Client | None = None) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.assertion(path, raw)}", "Content-Type": "application/json"}
        if http is not None:
            return http.post(f"{self.issuer}{path}", content=raw, headers=headers)
        return httpx.post(f"{self.issuer}{path}", content=raw, headers=headers, timeout=10)


def read_chip(registry_csv: Path, cccd: str) -> ChipCard | None:
    """The demo's stand-in for a chip reader: the citizen's card in the synthetic registry file."""
    with registry_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["cccd"] == cccd:
                return ChipCard(cccd, row["card_number"], date.fromisoformat(row["card_expiry"]))
    return None


def level2_evidence(card: ChipCard, phone: str, request_id: str | None = None,
                    verified_at: datetime | None = None) -> dict[str, Any]:
    """The body of ``POST /registrar/level2`` for a card checked in person at ``verified_at`` (now)."""
    return {
        "request_id": request_id or secrets.token_hex(16),
        "cccd": card.cccd,
        # A real desk hashes the chip's data groups; the demo hashes what it has of the card.
        "chip_data_hash": hashlib.sha256(f"chip:{card.cccd}:{card.card_number}".encode()).hexdigest(),
        "card_number": card.card_number,
        "card_expiry": card.card_expiry.isoformat(),
        "face_check": "match",
        "fingerprint_check": "match",
        "verified_at": (verified_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        # The number the citizen confirms at the desk; another than the account's resets its credentials.
        "phone": phone,
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Raise an enrolled account to level 2 (registrar API).")
    parser.add_argument("cccd", help="the citizen's 12-digit number (the account must exist and be active)")
    parser.add_argument("--phone", required=True,
                        help="the mobile number the citizen confirms at the desk (if it is not the account's, the "
                             "account's password and second factors are reset and a new activation code is sent)")
    parser.add_argument("--issuer", default=os.environ.get("IDENTITY_ISSUER", "http://localhost:8000"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("IDENTITY_DATA_DIR", "data")))
    parser.add_argument("--client-id", help="registrar client (default: the demo desk)")
    parser.add_argument("--key-file", type=Path, help="the desk's private JWK (default: the demo desk's)")
    parser.add_argument("--card-number", help="document number read from the chip (default: demo registry)")
    parser.add_argument("--card-expiry", type=date.fromisoformat, help="expiry read from the chip (YYYY-MM-DD)")
    parser.add_argument("--request-id", help="idempotency key (default: a new random one); a retry sends the same "
                                             "request: the same --request-id and --verified-at")
    parser.add_argument("--verified-at", type=datetime.fromisoformat,
                        help="when the in-person check was done, ISO 8601 with offset (default: now)")
    parser.add_argument("--officer-id", default="demo-officer")
    parser.add_argument("--desk-id", default="demo-desk")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    registrar = demo_credentials(args.data_dir).get("registrar", {})
    client_id = args.client_id or registrar.get("client_id")
    key_file = args.key_file or (Path(registrar["key_file"]) if registrar.get("key_file") else None)
    if not client_id or key_file is None or not key_file.exists():
        print("no registrar client: start `identity-service serve` here first, or pass --client-id and "
              "--key-file", file=sys.stderr)
        return 2
    if args.card_number and args.card_expiry:
        card: ChipCard | None = ChipCard(args.cccd, args.card_number, args.card_expiry)
    else:
        registry = args.data_dir / "demo_registry.csv"
        card = read_chip(registry, args.cccd) if registry.exists() else None
    if card is None:
        print("no card for this number in the demo registry: pass --card-number and --card-expiry", file=sys.stderr)
        return 2
    desk = Desk(args.issuer.rstrip("/"), client_id, json.loads(key_file.read_text()), args.officer_id, args.desk_id)
    body = level2_evidence(card, args.phone, args.request_id, args.verified_at)
    print(f"request_id {body['request_id']}  verified_at {body['verified_at']}")
    response = desk.post(LEVEL2_PATH, body)
    print(f"HTTP {response.status_code}" + (" (replayed)" if response.headers.get("idempotent-replayed") else ""))
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
