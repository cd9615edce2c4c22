"""The hospital check-in example in a real Chromium against a live provider: staff login, a level-2
patient's insurance screen, level-1 patients refused with a clear message, a declined consent explained."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route

from clients.examples.config import RelyingPartyConfig
from clients.examples.hospital.app import create_app
from clients.examples.hospital.insurance import InsuranceCard, InsuranceTable
from tests.examples.actors import (
    Person,
    enrol_totp,
    finish_at_provider,
    log_in_at_provider,
    make_person,
    record_authorization_requests,
    register_example_client,
)
from tests.live_provider import Provider
from tests.live_server import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("provider", ["embedded"], indirect=True)]


@dataclass(frozen=True)
class Desk:
    config: RelyingPartyConfig
    staff: Person
    patient: Person
    level2_patient: Person


@pytest.fixture
def desk(provider: Provider) -> Iterator[Desk]:
    staff = make_person(provider, "Lê Văn Bình", date(1980, 2, 14), "male")
    patient = make_person(provider, "Đỗ Thị Hạnh", date(1962, 11, 30), "female")
    level2_patient = make_person(provider, "Hoàng Văn Sơn", date(1948, 4, 2), "male", level=2)
    config = register_example_client(provider)
    insurance = InsuranceTable([
        InsuranceCard(patient.cccd, f"SYN{patient.cccd}", 95, "Bệnh viện Demo", date(2025, 1, 1), date(2026, 12, 31)),
        InsuranceCard(level2_patient.cccd, f"SYN{level2_patient.cccd}", 100, "Trạm y tế phường Demo",
                      date(2026, 1, 1), date(2027, 12, 31)),
    ])
    with serve_in_thread(create_app(config, frozenset({staff.cccd}), insurance), config.port):
        yield Desk(config, staff, patient, level2_patient)


def _staff_logs_in(page: Page, provider: Provider, desk: Desk) -> None:
    page.goto(f"{desk.config.base_url}/")
    page.click("#staff-login")
    log_in_at_provider(page, provider, desk.staff, desk.config.base_url)
    page.wait_for_url(f"{desk.config.base_url}/")


def test_staff_logs_in_at_level_1(page: Page, provider: Provider, desk: Desk) -> None:
    _staff_logs_in(page, provider, desk)
    assert page.text_content("#staff") == "Staff on duty: Lê Văn Bình"
    assert page.is_visible("#start-checkin")


def test_a_citizen_not_on_the_staff_list_cannot_run_the_desk(page: Page, provider: Provider, desk: Desk) -> None:
    page.goto(f"{desk.config.base_url}/")
    page.click("#staff-login")
    log_in_at_provider(page, provider, desk.patient, desk.config.base_url)
    assert page.text_content("#title") == "Not hospital staff"
    page.goto(f"{desk.config.base_url}/")
    assert page.is_visible("#staff-login")


def test_level_2_patient_with_a_second_factor_gets_the_insurance_screen(
        page: Page, provider: Provider, desk: Desk) -> None:
    authenticator = enrol_totp(provider, desk.level2_patient)
    _staff_logs_in(page, provider, desk)
    page.click("#start-checkin")
    log_in_at_provider(page, provider, desk.level2_patient, desk.config.base_url, authenticator)
    page.wait_for_url(f"{desk.config.base_url}/checkin")
    assert page.text_content("#patient-name") == "Hoàng Văn Sơn"
    assert page.text_content("#patient-birthdate") == "1948-04-02"
    assert page.text_content("#patient-citizen-id") == desk.level2_patient.cccd
    assert page.text_content("#card-number") == f"SYN{desk.level2_patient.cccd}"
    assert page.text_content("#card-benefit") == "100%"
    assert page.text_content("#card-facility") == "Trạm y tế phường Demo"
    assert page.text_content("#card-validity") == "2026-01-01 – 2027-12-31"
    # Finishing signs the patient out at the provider and returns to the desk, staff still on duty.
    page.click("#finish-checkin")
    page.wait_for_url(f"{desk.config.base_url}/")
    assert page.text_content("#staff") == "Staff on duty: Lê Văn Bình"
    page.goto(f"{desk.config.base_url}/checkin")
    assert page.url == f"{desk.config.base_url}/"


def test_level_1_patient_is_refused_with_a_clear_message(page: Page, provider: Provider, desk: Desk) -> None:
    _staff_logs_in(page, provider, desk)
    authorization_requests = record_authorization_requests(page, provider)
    page.click("#start-checkin")
    # prompt=login: the staff member's provider session must not log the patient in.
    page.wait_for_url(f"{provider.base_url}/login?req=**")
    page.fill("input[name=cccd]", desk.patient.cccd)
    page.fill("input[name=password]", desk.patient.password)
    page.locator("form[action='/login'] [type=submit]").click()
    provider_pages = finish_at_provider(page, provider, desk.config.base_url)
    assert any("/login/level-required" in url for url in provider_pages)
    query = parse_qs(urlsplit(authorization_requests[-1]).query)
    assert query["acr_values"] == ["urn:eid:vn:level2"] and query["prompt"] == ["login"]
    assert parse_qs(urlsplit(page.url).query)["error"] == ["unmet_authentication_requirements"]
    _assert_refused_without_patient_data(page, desk)


def test_a_level_1_token_is_refused_even_when_acr_values_was_stripped_from_the_request(
        page: Page, provider: Provider, desk: Desk) -> None:
    """If the request loses ``acr_values`` on the way, the provider issues a level-1 token: the desk's
    own level check (the SDK's ``InsufficientLevel``) must still refuse it."""
    _staff_logs_in(page, provider, desk)

    def _strip_acr_values(route: Route) -> None:
        # The desk's redirect to the provider, with acr_values removed from its Location.
        response = route.fetch(max_redirects=0)
        parts = urlsplit(response.headers["location"])
        query = "&".join(pair for pair in parts.query.split("&") if not pair.startswith("acr_values="))
        route.fulfill(response=response, headers={**response.headers, "location": parts._replace(query=query).geturl()})

    page.route(f"{desk.config.base_url}/checkin/start", _strip_acr_values)
    page.click("#start-checkin")
    log_in_at_provider(page, provider, desk.patient, desk.config.base_url)
    assert "code" in parse_qs(urlsplit(page.url).query), "the provider issued a code for the level-1 request"
    assert "reached only level 1" in " ".join(page.inner_text("body").split())
    _assert_refused_without_patient_data(page, desk)


def _assert_refused_without_patient_data(page: Page, desk: Desk) -> None:
    assert page.text_content("#title") == "Level 2 identity required"
    explanation = page.inner_text("body")
    assert "chip ID card" in explanation and "police registration desk" in explanation
    assert "Đỗ Thị Hạnh" not in page.content() and desk.patient.cccd not in page.content()
    page.goto(f"{desk.config.base_url}/checkin")  # no patient was checked in
    assert page.url == f"{desk.config.base_url}/" and page.is_visible("#start-checkin")


def test_a_patient_who_declines_consent_gets_an_explanation(page: Page, provider: Provider, desk: Desk) -> None:
    authenticator = enrol_totp(provider, desk.level2_patient)
    _staff_logs_in(page, provider, desk)
    page.click("#start-checkin")
    page.wait_for_url(f"{provider.base_url}/login?req=**")
    page.fill("input[name=cccd]", desk.level2_patient.cccd)
    page.fill("input[name=password]", desk.level2_patient.password)
    page.locator("form[action='/login'] [type=submit]").click()
    page.wait_for_url(f"{provider.base_url}/login/second-factor?req=**")
    page.fill("#totp-code", authenticator.now())
    page.click("#totp-submit")
    page.wait_for_url(f"{provider.base_url}/consent?req=**")
    page.locator("button[name=decision][value=deny]").click()
    page.wait_for_url(f"{desk.config.base_url}/callback?**")
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    assert page.text_content("#title") == "Login cancelled"
    assert "Hoàng Văn Sơn" not in page.content()
