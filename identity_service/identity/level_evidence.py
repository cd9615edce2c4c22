"""Level 2 granted in person (Decree 69/2024/NĐ-CP Art. 12-13): a registration officer read the chip
card, matched face and fingerprints, and the chip data agrees with the population registry.

Each grant writes one :class:`LevelEvidence` row, keyed by the registrar's ``request_id``: the
unique constraint (registrar client, request id) makes a replayed request return the first
answer instead of writing a second row or upgrading twice, even when two copies race. The
registrar API also records its answer in ``registrar_requests`` in the same transaction
(:mod:`identity_service.identity.registrar_requests`), which is what detects a ``request_id`` reused
for another account or action; the evidence-row check stays for grants recorded before that table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from identity_service.identity.audit import record_event
from identity_service.identity.registrar_requests import IdempotentRequest
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, Citizen, LevelEvidence, RecoveryCode, SecondFactor, utcnow

UNUSABLE_PASSWORD = "!activation-pending"  # no hash verifies against it (passlib refuses the format)
MAX_EVIDENCE_AGE = timedelta(hours=24)
MAX_CLOCK_SKEW = timedelta(minutes=5)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class LevelGrantRefused(Exception):
    """The grant cannot be made; ``reason`` is a stable, machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class EvidenceRefused(LevelGrantRefused):
    """The in-person checks or the chip data do not support level 2."""


class AccountNotFound(LevelGrantRefused):
    pass


class GrantConflict(LevelGrantRefused):
    """The account's state, or an earlier request with the same ``request_id``, conflicts."""


@dataclass(frozen=True)
class InPersonEvidence:
    """What the officer checked at the desk. No biometric data is kept: only the results."""

    chip_data_hash: str
    card_number: str
    card_expiry: date
    face_check: str
    fingerprint_check: str
    verified_at: datetime


@dataclass(frozen=True)
class RegistrarRequest:
    """Who asks (registrar client, officer, desk) and the request's idempotency key."""

    client_id: str
    officer_id: str
    desk_id: str
    request_id: str


@dataclass(frozen=True)
class LevelGrant:
    evidence_id: str
    account_id: str
    action: str
    level: int
    level_verified_at: datetime
    replayed: bool = False
    credentials_reset: bool = False


def _utc(value: datetime) -> datetime:
    """Aware UTC (SQLite returns naive datetimes: they were stored as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def check_evidence(citizen: Citizen | None, evidence: InPersonEvidence, now: datetime | None = None) -> Citizen:
    """Raise :class:`EvidenceRefused` with the specific reason, or return the registry entry."""
    now = now or datetime.now(UTC)
    if not _HEX64.match(evidence.chip_data_hash):
        raise EvidenceRefused("invalid_chip_data_hash", "chip_data_hash must be a SHA-256 digest in lowercase hex.")
    if evidence.face_check != "match":
        raise EvidenceRefused("face_check_failed", "The face check did not match.")
    if evidence.fingerprint_check != "match":
        raise EvidenceRefused("fingerprint_check_failed", "The fingerprint check did not match.")
    verified_at = _utc(evidence.verified_at)
    if verified_at > now + MAX_CLOCK_SKEW:
        raise EvidenceRefused("verified_in_future", "verified_at is in the future.")
    if now - verified_at > MAX_EVIDENCE_AGE:
        raise EvidenceRefused("verification_stale", "The in-person check is more than 24 hours old.")
    if citizen is None:
        raise EvidenceRefused("not_in_registry", "The population registry has no such number.")
    if citizen.deceased:
        raise EvidenceRefused("deceased", "The registry records the person as deceased.")
    if citizen.card_number != evidence.card_number:
        raise EvidenceRefused("card_number_mismatch", "The card presented is not the card the registry holds.")
    if citizen.card_status != "valid":
        raise EvidenceRefused("card_revoked", "The registry records the card as revoked.")
    if citizen.card_expiry != evidence.card_expiry:
        raise EvidenceRefused("card_expiry_mismatch", "The chip's expiry date differs from the registry's.")
    if citizen.card_expiry < now.date():
        raise EvidenceRefused("card_expired", "The card has expired.")
    return citizen


def _same_request(row: LevelEvidence, action: str, account: Account, evidence: InPersonEvidence) -> bool:
    recorded, given = _utc(row.verified_at), _utc(evidence.verified_at)
    return (row.action, row.account_id, row.chip_data_hash, row.card_number, row.card_expiry, row.face_check,
            row.fingerprint_check, recorded) == (action, account.id, evidence.chip_data_hash, evidence.card_number,
                                                 evidence.card_expiry, evidence.face_check,
                                                 evidence.fingerprint_check, given)


class LevelTwoRegistrations:
    """Raise an account to level 2, or create one there, from in-person evidence."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upgrade(self, cccd: str, phone: str, evidence: InPersonEvidence, request: RegistrarRequest,
                idempotency: IdempotentRequest[LevelGrant] | None = None) -> LevelGrant:
        """Raise an existing active account to level 2 (or renew its verification).

        ``phone`` is the number the citizen confirms at the desk. Online enrolment checked only data
        that is not secret (number, name, birth date) and an SMS to *some* phone, so an impostor may
        hold the level-1 account: when the phones differ, the credentials chosen online are not
        trusted with level 2. The phone becomes the confirmed one, the password and every second
        factor are cleared (``credentials_reset``), and the citizen activates the account again with
        a code sent to the confirmed phone; the caller ends the account's sessions and tokens.

        With ``idempotency`` the answer is recorded with the grant; a replay raises ``AlreadyAnswered``
        and a reused ``request_id`` ``RequestIdReused`` (:mod:`~identity_service.identity.registrar_requests`).
        """
        return self._grant("upgrade", cccd, evidence, request, phone, idempotency)

    def create(self, cccd: str, phone: str, evidence: InPersonEvidence, request: RegistrarRequest,
               idempotency: IdempotentRequest[LevelGrant] | None = None) -> LevelGrant:
        """Create a level-2 account for a citizen who never enrolled; it has no usable password until
        the citizen activates it (:mod:`identity_service.identity.activation`)."""
        return self._grant("create", cccd, evidence, request, phone, idempotency)

    def _grant(self, action: str, cccd: str, evidence: InPersonEvidence, request: RegistrarRequest,
               phone: str | None, idempotency: IdempotentRequest[LevelGrant] | None) -> LevelGrant:
        try:
            with session_scope(self.engine) as session:
                if idempotency is not None:
                    idempotency.check(session)  # before the evidence checks: a late replay still replays
                replay = self._replay(session, action, cccd, evidence, request)
                if replay is not None:
                    return replay
                citizen = check_evidence(session.get(Citizen, cccd), evidence)
                account, reset = self._account_for(session, action, citizen, phone)
                grant = self._record(session, action, account, evidence, request, credentials_reset=reset)
                if idempotency is not None:
                    idempotency.record(session, account.id, grant)
                return grant
        except IntegrityError:
            # A concurrent copy of this request (same request_id) or of this account won the race.
            with Session(self.engine) as session:
                if idempotency is not None:
                    idempotency.settle_race(session)
                replay = self._replay(session, action, cccd, evidence, request)
            if replay is not None:
                return replay
            raise GrantConflict("account_exists", "An account already exists for this number.") from None

    def _replay(self, session: Session, action: str, cccd: str, evidence: InPersonEvidence,
                request: RegistrarRequest) -> LevelGrant | None:
        row = session.exec(select(LevelEvidence).where(LevelEvidence.registrar_client_id == request.client_id,
                                                       LevelEvidence.request_id == request.request_id)).first()
        if row is None:
            return None
        account = session.get(Account, row.account_id)
        if account is None or account.cccd != cccd or not _same_request(row, action, account, evidence):
            raise GrantConflict("request_id_reused", "This request_id was used for a different request.")
        return LevelGrant(row.id, row.account_id, row.action, 2, _utc(row.verified_at), replayed=True)

    def _account_for(self, session: Session, action: str, citizen: Citizen,
                     phone: str | None) -> tuple[Account, bool]:
        """The account to grant level 2 to, and whether its credentials were reset."""
        # FOR UPDATE (PostgreSQL): a lock or a second grant for the account waits for this one.
        account = session.exec(select(Account).where(Account.cccd == citizen.cccd).with_for_update()).first()
        if action == "create":
            if account is not None:
                raise GrantConflict("account_exists", "An account already exists for this number.")
            account = Account(cccd=citizen.cccd, phone=phone or "", password_hash=UNUSABLE_PASSWORD, level=1)
            session.add(account)
            session.flush()
            return account, False
        if account is None:
            raise AccountNotFound("account_not_found", "No account exists for this number.")
        if account.status != "active":
            raise GrantConflict("account_not_active", f"The account is {account.status}; unlock it first.")
        if phone is not None and phone != account.phone:
            _reset_credentials(session, account, phone)
            return account, True
        return account, False

    def _record(self, session: Session, action: str, account: Account, evidence: InPersonEvidence,
                request: RegistrarRequest, credentials_reset: bool = False) -> LevelGrant:
        previous = account.level
        account.level = 2
        account.level_verified_at = _utc(evidence.verified_at)
        account.updated_at = utcnow()
        session.add(account)
        row = LevelEvidence(account_id=account.id, action=action, registrar_client_id=request.client_id,
                            request_id=request.request_id, officer_id=request.officer_id, desk_id=request.desk_id,
                            chip_data_hash=evidence.chip_data_hash, card_number=evidence.card_number,
                            card_expiry=evidence.card_expiry, face_check=evidence.face_check,
                            fingerprint_check=evidence.fingerprint_check, verified_at=_utc(evidence.verified_at))
        session.add(row)
        session.flush()
        event = "account.created_at_level2" if action == "create" else "account.level_raised"
        record_event(session, event, account_id=account.id, client_id=request.client_id, level=2,
                     previous_level=None if action == "create" else previous, evidence_id=row.id,
                     request_id=request.request_id, officer_id=request.officer_id, desk_id=request.desk_id)
        return LevelGrant(row.id, account.id, action, 2, _utc(evidence.verified_at),
                          credentials_reset=credentials_reset)


def _reset_credentials(session: Session, account: Account, confirmed_phone: str) -> None:
    """The desk's phone replaces the online one; nothing chosen online survives (see ``upgrade``)."""
    account.phone = confirmed_phone
    account.password_hash = UNUSABLE_PASSWORD
    session.execute(delete(SecondFactor).where(col(SecondFactor.account_id) == account.id))
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.account_id) == account.id))
    record_event(session, "account.credentials_reset", account_id=account.id, reason="phone_differs_at_desk")
