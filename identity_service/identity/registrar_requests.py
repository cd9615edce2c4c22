"""Idempotency of registrar requests: one recorded answer per (registrar client, ``request_id``).

A desk that lost an answer (a timeout, a crashed app) sends the same request again with the same
``request_id``. The first answer is recorded in ``registrar_requests`` **in the transaction of the
action itself** (the domain functions call :meth:`IdempotentRequest.record` before they commit),
so a request either changed the account and is recorded, or did neither. A later request with the
same key and the same body gets that answer back (:class:`AlreadyAnswered`); with any other body —
another account, another action, another reason — it is refused (:class:`RequestIdReused`). The
unique key (client, request_id) settles two copies racing: the loser's commit fails and it reads
the winner's answer (the semantics of draft-ietf-httpapi-idempotency-key-header §2.6).

Only successful answers are recorded: a refused request changed nothing and may be corrected and
sent again under the same key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import Session, select

from identity_service.storage.models import RegistrarRequestRecord

Outcome = TypeVar("Outcome")


class RequestIdReused(Exception):
    """The ``request_id`` already answered a different request of this registrar client."""

    reason = "request_id_reused"

    def __init__(self) -> None:
        super().__init__("This request_id was used for a different request.")


@dataclass(frozen=True)
class RecordedAnswer:
    """The answer given to the first request with a key."""

    status: int
    body: dict[str, Any]
    account_id: str


class AlreadyAnswered(Exception):  # an outcome, not a failure: the caller replays the answer
    """Raised from inside the action's transaction (nothing is written): replay ``answer``."""

    def __init__(self, answer: RecordedAnswer) -> None:
        super().__init__("request already answered")
        self.answer = answer


@dataclass(frozen=True)
class IdempotencyKey:
    client_id: str
    request_id: str
    action: str
    body_sha256: str


def earlier_answer(session: Session, key: IdempotencyKey) -> RecordedAnswer | None:
    """The recorded answer for ``key``; raises :class:`RequestIdReused` when it answered another body."""
    row = session.exec(select(RegistrarRequestRecord).where(
        RegistrarRequestRecord.registrar_client_id == key.client_id,
        RegistrarRequestRecord.request_id == key.request_id)).first()
    if row is None:
        return None
    if row.action != key.action or not hmac.compare_digest(row.body_sha256, key.body_sha256):
        raise RequestIdReused()
    return RecordedAnswer(row.response_status, dict(row.response_body), row.account_id)


@dataclass(frozen=True)
class IdempotentRequest(Generic[Outcome]):
    """What a domain action needs to be idempotent: the key, and how its outcome is answered."""

    key: IdempotencyKey
    status: int
    answer: Callable[[Outcome], dict[str, Any]]

    def check(self, session: Session) -> None:
        """Call inside the action's transaction, before changing anything (after taking the account's
        row lock, so a concurrent copy that committed meanwhile is seen)."""
        earlier = earlier_answer(session, self.key)
        if earlier is not None:
            raise AlreadyAnswered(earlier)

    def record(self, session: Session, account_id: str, outcome: Outcome) -> None:
        """Call inside the action's transaction, after the change: it commits with it or not at all."""
        session.add(RegistrarRequestRecord(
            registrar_client_id=self.key.client_id, request_id=self.key.request_id, action=self.key.action,
            body_sha256=self.key.body_sha256, account_id=account_id, response_status=self.status,
            response_body=self.answer(outcome)))
        session.flush()

    def settle_race(self, session: Session) -> None:
        """After the action's commit failed on a unique key: raise the winner's answer if it was this key."""
        self.check(session)
