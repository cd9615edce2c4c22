"""/account/security: second factors can be changed only from a level-2 session; removal needs the password."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from sqlmodel import col, select

from identity_service.identity.second_factors import RECOVERY, CodeRejected
from identity_service.storage.database import session_scope
from identity_service.storage.models import Account, AuditEvent, SecondFactor
from tests.harness import PASSWORD, Harness
from tests.html_forms import form_posting_to, forms_in
from tests.sms_outbox import last_sms_code

PAGE = "/account/security"


def _account(harness: Harness) -> Account:
    with session_scope(harness.engine) as db:
        return db.exec(select(Account).where(Account.cccd == harness.cccd)).one()


def _set_level2(harness: Harness) -> None:
    with session_scope(harness.engine) as db:
        account = db.exec(select(Account).where(Account.cccd == harness.cccd)).one()
        account.level = 2
        db.add(account)


def _factors(harness: Harness) -> list[SecondFactor]:
    with session_scope(harness.engine) as db:
        return list(db.exec(select(SecondFactor).where(SecondFactor.account_id == _account(harness).id)).all())


def _post_form(harness: Harness, page_html: str, action: str, **fields: str) -> Any:
    form = form_posting_to(page_html, action)
    return harness.client.post(action, data={**form.fields, **fields}, follow_redirects=False)


def _verify_by_sms(harness: Harness) -> None:
    page = harness.client.get(PAGE)
    sent = _post_form(harness, page.text, f"{PAGE}/sms")
    assert sent.headers["location"] == f"{PAGE}?sent=sms"
    code = last_sms_code(harness.services.settings.data_dir / "sms_outbox.jsonl")
    page = harness.client.get(sent.headers["location"])
    verified = _post_form(harness, page.text, f"{PAGE}/verify", code=code)
    assert verified.headers["location"] == f"{PAGE}?done=verified"


def _add_totp(harness: Harness) -> pyotp.TOTP:
    page = harness.client.get(PAGE)
    begun = _post_form(harness, page.text, f"{PAGE}/totp")
    enrol = harness.client.get(begun.headers["location"])
    assert enrol.status_code == 200
    assert "<svg" in enrol.text and "<img" not in enrol.text  # inline QR code, no external request
    secret = enrol.text.split('id="totp-secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    totp = pyotp.TOTP(secret)
    confirmed = _post_form(harness, enrol.text, f"{PAGE}/totp/confirm", code=totp.now())
    assert confirmed.headers["location"] == f"{PAGE}?done=totp_added"
    return totp


def test_the_account_page_links_to_the_security_page(harness: Harness) -> None:
    harness.login()
    assert f'href="{PAGE}"' in harness.client.get("/account").text


def test_a_level1_account_is_told_how_to_get_level2_and_cannot_enrol(harness: Harness) -> None:
    harness.login()
    page = harness.client.get(PAGE + "?lang=en")
    assert page.status_code == 200 and "registration desk" in page.text
    assert not [f for f in forms_in(page.text) if f.action.startswith(PAGE)]
    token = form_posting_to(harness.client.get("/account").text, "/logout").fields["csrf_token"]
    refused = harness.client.post(f"{PAGE}/totp", data={"csrf_token": token}, follow_redirects=False)
    assert refused.headers["location"] == PAGE and _factors(harness) == []


def test_a_password_only_session_must_verify_a_code_before_adding_an_authenticator(harness: Harness) -> None:
    _set_level2(harness)
    harness.login()
    page = harness.client.get(PAGE)
    assert f'action="{PAGE}/totp"' not in page.text
    token = form_posting_to(page.text, f"{PAGE}/sms").fields["csrf_token"]
    # Forging the form does not help: a stolen password alone must never enrol a second factor.
    refused = harness.client.post(f"{PAGE}/totp", data={"csrf_token": token}, follow_redirects=False)
    assert refused.headers["location"] == PAGE and _factors(harness) == []
    _verify_by_sms(harness)
    assert f'action="{PAGE}/totp"' in harness.client.get(PAGE).text


def test_adding_an_authenticator_with_its_first_code(harness: Harness) -> None:
    _set_level2(harness)
    harness.login()
    _verify_by_sms(harness)
    _add_totp(harness)
    [factor] = _factors(harness)
    assert factor.confirmed_at is not None
    with session_scope(harness.engine) as db:
        events = db.exec(select(AuditEvent.event).where(col(AuditEvent.event).startswith("second_factor."))).all()
    assert "second_factor.enrolled" in events


def test_a_wrong_first_code_does_not_turn_the_authenticator_on(harness: Harness) -> None:
    _set_level2(harness)
    harness.login()
    _verify_by_sms(harness)
    page = harness.client.get(PAGE)
    enrol = harness.client.get(_post_form(harness, page.text, f"{PAGE}/totp").headers["location"])
    secret = enrol.text.split('id="totp-secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + drift) for drift in (-60, -30, 0, 30, 60)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555")
                 if code not in valid)
    refused = _post_form(harness, enrol.text, f"{PAGE}/totp/confirm", code=wrong)
    assert refused.status_code == 400 and "<svg" in refused.text
    assert [f.confirmed_at for f in _factors(harness)] == [None]


def test_removing_an_authenticator_needs_the_password(harness: Harness) -> None:
    _set_level2(harness)
    harness.login()
    _verify_by_sms(harness)
    _add_totp(harness)
    page = harness.client.get(PAGE)
    wrong = _post_form(harness, page.text, f"{PAGE}/totp/remove", password="not-the-password")
    assert wrong.status_code == 401 and len(_factors(harness)) == 1
    removed = _post_form(harness, page.text, f"{PAGE}/totp/remove", password=PASSWORD)
    assert removed.headers["location"] == f"{PAGE}?done=totp_removed"
    assert _factors(harness) == []


def test_recovery_codes_are_shown_once_and_a_new_set_replaces_the_old(harness: Harness) -> None:
    _set_level2(harness)
    harness.login()
    _verify_by_sms(harness)
    page = harness.client.get(PAGE)
    shown = _post_form(harness, page.text, f"{PAGE}/recovery-codes")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    first_set = [c.split("</code>")[0] for c in shown.text.split("<li><code>")[1:]]
    assert len(first_set) == 10
    assert all(code not in harness.client.get(PAGE).text for code in first_set)  # never shown again
    second = _post_form(harness, harness.client.get(PAGE).text, f"{PAGE}/recovery-codes")
    second_set = [c.split("</code>")[0] for c in second.text.split("<li><code>")[1:]]
    service, account_id = harness.services.second_factors, _account(harness).id
    try:
        service.verify(account_id, RECOVERY, first_set[0])
        raise AssertionError("a replaced recovery code was accepted")
    except CodeRejected:
        pass
    service.verify(account_id, RECOVERY, second_set[0])
