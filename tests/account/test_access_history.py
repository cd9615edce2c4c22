"""The access history: only this account's release events, newest first, in bounded pages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.identity.access_history import PAGE_SIZE, Cursor, history_page
from identity_service.identity.audit import record_event
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, AuditEvent, utcnow
from identity_service.web.i18n import translator
from tests.account.browsers import tokens_in
from tests.factories import make_account, make_citizen, make_client
from tests.harness import PASSWORD, Harness


def _fill(engine: Engine, account_id: str, other_account_id: str, count: int) -> None:
    """``count`` release events for the account, interleaved with events that must not show."""
    start = utcnow() - timedelta(days=1)
    kinds = ("authorization.code_issued", "consent.granted", "consent.withdrawn")
    with session_scope(engine) as db:
        for i in range(count):
            row = record_event(db, kinds[i % 3], account_id=account_id, client_id=None, n=i,
                               scopes=["openid"], claims=["sub"])
            row.at = start + timedelta(minutes=i)
            foreign = record_event(db, "authorization.code_issued", account_id=other_account_id, n=i)
            foreign.at = row.at
            login = record_event(db, "login.succeeded", account_id=account_id, n=i)
            login.at = row.at


def _numbers(engine: Engine, ids: list[int]) -> list[int]:
    with Session(engine) as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.id.in_(ids))).all()  # type: ignore[union-attr]
    by_id = {row.id: row.details["n"] for row in rows}
    return [by_id[i] for i in ids]


def test_history_pages_newest_first_through_only_this_accounts_events(engine: Engine) -> None:
    mine = make_account(engine, make_citizen(engine), PASSWORD)
    theirs = make_account(engine, make_citizen(engine), PASSWORD)
    _fill(engine, mine.id, theirs.id, 45)

    first = history_page(engine, mine.id)
    assert _numbers(engine, [e.id for e in first.entries]) == list(range(44, 24, -1))
    assert first.newer is None and first.older is not None
    second = history_page(engine, mine.id, before=Cursor.decode(first.older))
    assert _numbers(engine, [e.id for e in second.entries]) == list(range(24, 4, -1))
    third = history_page(engine, mine.id, before=Cursor.decode(second.older))
    assert _numbers(engine, [e.id for e in third.entries]) == [4, 3, 2, 1, 0]
    assert third.older is None and third.newer is not None
    back = history_page(engine, mine.id, after=Cursor.decode(third.newer))
    assert [e.id for e in back.entries] == [e.id for e in second.entries]
    assert back.older == second.older and back.newer == second.newer
    assert [e.id for e in history_page(engine, mine.id, after=Cursor.decode(second.newer)).entries] == \
        [e.id for e in first.entries]
    assert history_page(engine, theirs.id, size=1000).entries.__len__() == 45
    assert len(history_page(engine, mine.id, size=10_000).entries) <= 100  # the page size is bounded


def test_events_in_the_same_instant_are_neither_skipped_nor_repeated(engine: Engine) -> None:
    mine = make_account(engine, make_citizen(engine), PASSWORD)
    same = utcnow()
    with session_scope(engine) as db:
        for i in range(5):
            record_event(db, "consent.granted", account_id=mine.id, n=i).at = same
    seen: list[int] = []
    cursor = None
    while True:
        page = history_page(engine, mine.id, before=cursor, size=2)
        seen += [e.id for e in page.entries]
        if page.older is None:
            break
        cursor = Cursor.decode(page.older)
    assert len(seen) == len(set(seen)) == 5


def test_malformed_cursors_are_ignored() -> None:
    for value in ("", "abc", "1.2.3", "-5.1", "5.", ".5", "9" * 40, "99999999999999999999.1", None):
        assert Cursor.decode(value) is None, value
    now = utcnow()
    assert Cursor.decode(Cursor(now, 7).encode()) == Cursor(now, 7)


def test_code_issuance_records_the_released_claim_names_not_values(harness: Harness) -> None:
    harness.login()
    tokens_in(harness.client, harness, scope="openid profile citizen_id")
    with Session(harness.engine) as db:
        event = db.exec(select(AuditEvent).where(AuditEvent.event == "authorization.code_issued",
                                                 AuditEvent.client_id == harness.client_id)).one()
    assert event.details["claims"] == ["sub", "identity_level", "name", "family_name", "given_name", "birthdate",
                                       "gender", "citizen_id"]
    assert harness.cccd not in str(event.details) and "Nguyễn" not in str(event.details)


def test_history_page_shows_the_service_and_what_it_received(harness: Harness) -> None:
    other_client, _ = make_client(harness.engine, "https://other.example/cb")
    harness.login()
    tokens_in(harness.client, harness, scope="openid citizen_id")
    stranger = make_account(harness.engine, make_citizen(harness.engine), PASSWORD)
    with session_scope(harness.engine) as db:
        record_event(db, "authorization.code_issued", account_id=stranger.id, client_id=other_client,
                     scopes=["openid", "phone"], claims=["phone_number"])
    page = harness.client.get("/account/history?lang=en").text
    t = translator("en")
    assert "Test RP" in page
    assert t("history.event.authorization.code_issued") in page and t("history.event.consent.granted") in page
    assert t("claim.citizen_id") in page and t("claim.phone_number") not in page
    assert page.index(t("history.event.authorization.code_issued")) < page.index(t("history.event.consent.granted"))
    assert harness.client.get("/account/history?before=garbage", follow_redirects=False).status_code == 200
    assert PAGE_SIZE == 20


def test_history_links_lead_to_older_and_newer_pages(harness: Harness) -> None:
    harness.login()
    tokens_in(harness.client, harness)
    account_id = _account_id(harness)
    with session_scope(harness.engine) as db:
        for i in range(25):
            record_event(db, "authorization.code_issued", account_id=account_id, client_id=harness.client_id,
                         scopes=["openid"], claims=["sub"], n=i)
    first = harness.client.get("/account/history").text
    assert 'rel="next"' in first and 'rel="prev"' not in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = harness.client.get(older)
    assert second.status_code == 200 and 'rel="prev"' in second.text and 'rel="next"' not in second.text


def _account_id(harness: Harness) -> str:
    with Session(harness.engine) as db:
        return db.exec(select(Account.id).where(Account.cccd == harness.cccd)).one()
