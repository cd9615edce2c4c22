"""Every account-centre page needs a login, every form a CSRF token; the profile shows the level."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from identity_service.storage.models import Account
from identity_service.web.i18n import translator
from tests.account.browsers import log_in, new_browser
from tests.harness import Harness
from tests.html_forms import form_posting_to

PAGES = ["/account", "/account/sessions", "/account/services", "/account/services/withdraw?client_id=x",
         "/account/history", "/account/password", "/account/lock"]
FORMS = ["/account/sessions/end", "/account/services/withdraw", "/account/password", "/account/lock"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_visitor_without_a_session_to_login(harness: Harness, path: str) -> None:
    response = harness.client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize("path", FORMS)
def test_forms_without_a_session_go_to_login(harness: Harness, path: str) -> None:
    token = form_posting_to(harness.client.get("/login").text, "/login").fields["csrf_token"]
    response = harness.client.post(path, data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


@pytest.mark.parametrize("path", FORMS)
def test_forms_refuse_a_forged_csrf_token_even_when_logged_in(harness: Harness, path: str) -> None:
    harness.login()
    response = harness.client.post(path, data={"csrf_token": "forged", "confirm": "yes", "session": "x",
                                               "client_id": harness.client_id, "current_password": "x"})
    assert response.status_code == 403
    assert harness.client.get("/account", follow_redirects=False).status_code == 200  # nothing happened


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_profile_shows_masked_identifiers_the_level_and_how_to_upgrade(harness: Harness, lang: str) -> None:
    harness.login()
    page = harness.client.get(f"/account?lang={lang}").text
    t = translator(lang)
    assert "Nguyễn Thị Lan" in page and "1990-05-17" in page
    assert f"{harness.cccd[:3]}******{harness.cccd[-3:]}" in page and harness.cccd not in page
    assert "+84******678" in page and "+84912345678" not in page
    assert t("account.level1") in page
    assert t("account.level1.allows") in page and t("account.level2.allows") in page
    assert t("account.upgrade.how").replace("'", "&#39;") in page
    assert 'href="/account/security"' in page


def test_a_level_two_profile_has_no_upgrade_instructions(harness: Harness) -> None:
    with Session(harness.engine) as db:
        account = db.get(Account, _account_id(harness))
        assert account is not None
        account.level = 2
        db.add(account)
        db.commit()
    harness.login()
    page = harness.client.get("/account?lang=en").text
    assert translator("en")("account.level2") in page
    assert translator("en")("account.upgrade.title") not in page


def _account_id(harness: Harness) -> str:
    with Session(harness.engine) as db:
        return db.exec(select(Account.id).where(Account.cccd == harness.cccd)).one()


def test_an_account_page_in_another_browser_is_still_its_own(harness: Harness) -> None:
    harness.login()
    other = new_browser(harness)
    assert other.get("/account", follow_redirects=False).status_code == 303
    log_in(other, harness.cccd)
    assert other.get("/account", follow_redirects=False).status_code == 200
