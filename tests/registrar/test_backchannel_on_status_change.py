"""Back-channel logout when an account's sessions end because of its status or level, not a logout.

OpenID Connect Back-Channel Logout 1.0 §2.5: the OP tells every RP of a session when that session
ends, whatever ended it. A desk lock or revocation, the registry sync lowering a level, and the
citizen's own lock all end every session of the account; each client that signed in through one of
them receives a logout token naming that session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta

import jwt
import pytest
from sqlmodel import Session

from identity_service.identity.registry_sync import sync_with_registry
from identity_service.oidc.logout import LogoutDelivery
from identity_service.storage.models import Citizen
from tests.account.browsers import ANDROID_CHROME, log_in, new_browser, tokens_in
from tests.factories import make_account, make_citizen
from tests.harness import PASSWORD, Harness
from tests.html_forms import form_posting_to
from tests.receiving_rp import ReceivingRp, receiving_rp, verified_logout_token
from tests.registrar.desk import Desk


@pytest.fixture
def rp(harness: Harness) -> Iterator[ReceivingRp]:
    with receiving_rp(harness) as receiver:
        yield receiver


def _signed_in_twice(harness: Harness, cccd: str) -> list[str]:
    """Two browsers of the citizen, each signed in to the harness client: their session ids."""
    sids = []
    for user_agent in (ANDROID_CHROME, None):
        browser = new_browser(harness, user_agent) if user_agent else new_browser(harness)
        log_in(browser, cccd)
        tokens_in(browser, harness)
        sid = browser.cookies.get("ids_session")
        assert sid
        sids.append(sid)
    return sids


def _sids_told(harness: Harness, rp: ReceivingRp, count: int) -> set[str]:
    return {verified_logout_token(harness, token)["sid"] for token in rp.wait_for(count)}


def test_a_desk_lock_sends_a_logout_token_for_every_session_of_the_account(harness: Harness, desk: Desk,
                                                                         rp: ReceivingRp) -> None:
    sids = _signed_in_twice(harness, harness.cccd)
    locked = desk.post("/registrar/lock", {"request_id": "bcl-lock-0001", "cccd": harness.cccd,
                                           "reason": "authority_request"})
    assert locked.status_code == 200, locked.text
    assert _sids_told(harness, rp, 2) == set(sids)
    # The replay answers from the record: nothing ends twice, nobody is told twice.
    replay = desk.post("/registrar/lock", {"request_id": "bcl-lock-0001", "cccd": harness.cccd,
                                           "reason": "authority_request"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(rp.tokens) == 2


def test_a_desk_revocation_tells_the_clients_with_the_citizens_subject(harness: Harness, desk: Desk,
                                                                       rp: ReceivingRp) -> None:
    browser = new_browser(harness)
    log_in(browser, harness.cccd)
    id_token = tokens_in(browser, harness)["id_token"]
    revoked = desk.post("/registrar/revoke", {"request_id": "bcl-revoke-01", "cccd": harness.cccd,
                                              "reason": "deceased"})
    assert revoked.status_code == 200, revoked.text
    [token] = rp.wait_for(1)
    claims = verified_logout_token(harness, token)
    signed_in = jwt.decode(id_token, options={"verify_signature": False})
    assert (claims["sub"], claims["sid"]) == (signed_in["sub"], signed_in["sid"])


def test_an_unlock_ends_nothing_and_tells_nobody(harness: Harness, desk: Desk, rp: ReceivingRp) -> None:
    assert desk.post("/registrar/lock", {"request_id": "bcl-lock-0002", "cccd": harness.cccd,
                                         "reason": "citizen_request"}).status_code == 200
    browser = new_browser(harness)
    assert desk.post("/registrar/unlock", {"request_id": "bcl-unlock-02", "cccd": harness.cccd}).status_code == 200
    log_in(browser, harness.cccd)
    tokens_in(browser, harness)
    assert desk.post("/registrar/unlock", {"request_id": "bcl-unlock-03", "cccd": harness.cccd}).status_code == 409
    assert browser.get("/account", follow_redirects=False).status_code == 200
    assert rp.tokens == []


def test_the_registry_sync_lowering_a_level_tells_the_clients_of_the_level_two_sessions(
        harness: Harness, rp: ReceivingRp) -> None:
    citizen = make_citizen(harness.engine, full_name="Trần Văn Hùng", family_name="Trần", given_name="Hùng",
                           sex="male")
    make_account(harness.engine, citizen, PASSWORD, level=2)
    sids = _signed_in_twice(harness, citizen.cccd)
    with Session(harness.engine) as db:
        row = db.get(Citizen, citizen.cccd)
        assert row is not None
        row.card_expiry = date.today() - timedelta(days=1)
        db.add(row)
        db.commit()

    batches: list[list[LogoutDelivery]] = []

    def notify(deliveries: list[LogoutDelivery]) -> None:
        batches.append(deliveries)
        asyncio.run(harness.services.backchannel.deliver(deliveries))

    report = sync_with_registry(harness.engine, harness.services.account_access, notify=notify)
    assert report.changes["level_lowered:card_expired"] == 1
    assert [len(batch) for batch in batches] == [2] and len(report.logouts) == 2
    assert _sids_told(harness, rp, 2) == set(sids)


def test_the_citizens_own_lock_tells_the_clients_of_every_session(harness: Harness, rp: ReceivingRp) -> None:
    sids = _signed_in_twice(harness, harness.cccd)
    browser = new_browser(harness)
    log_in(browser, harness.cccd)
    form = form_posting_to(browser.get("/account/lock").text, "/account/lock")
    assert browser.post("/account/lock", data=form.fields).status_code == 200
    # The browser that locked had not signed in to the client: only the two others are told.
    assert _sids_told(harness, rp, 2) == set(sids)
