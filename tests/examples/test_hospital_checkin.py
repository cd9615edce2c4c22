"""The hospital check-in example in a real Chromium against a live provider: staff login, a patient's
level-1 login refused with a clear message, a declined consent explained."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request

from clients.examples.config import RelyingPartyConfig
from clients.examples.hospital.app import create_app
from clients.examples.hospital.insurance import InsuranceCard, InsuranceTable
from tests.examples.actors import Person, log_in_at_provider, make_person, register_example_client
from tests.live_provider import Provider
from tests.live_server import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("provider", ["embedded"], indirect=True)]


@dataclass(frozen=True)
class Desk:
    config: RelyingPartyConfig
    staff: Person
    patient: Person


@pytest.fixture
def desk(provider: Provider) -> Iterator[Desk]:
    staff = make_person(provider, "Lê Văn Bình", date(1980, 2, 14), "male")
    patient = make_person(provider, "Đỗ Thị Hạnh", date(1962, 11, 30), "female")
    config = register_example_client(provider)
    insurance = InsuranceTable([InsuranceCard(patient.cccd, f"SYN{patient.cccd}", 95, "Bệnh viện Demo",
                                              date(2025, 1, 1), date(2026, 12, 31))])
    with serve_in_thread(create_app(config, frozenset({staff.cccd}), insurance), config.port):
        yield Desk(config, staff, patient)


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


def test_level_1_patient_is_refused_with_a_clear_message(page: Page, provider: Provider, desk: Desk) -> None:
    _staff_logs_in(page, provider, desk)
    authorization_requests: list[str] = []

    def _record(request: Request) -> None:
        if request.url.startswith(f"{provider.base_url}/authorize?"):
            authorization_requests.append(request.url)

    page.on("request", _record)
    page.click("#start-checkin")
    # prompt=login: the staff member's provider session must not log the patient in.
    log_in_at_provider(page, provider, desk.patient, desk.config.base_url)
    query = parse_qs(urlsplit(authorization_requests[-1]).query)
    assert query["acr_values"] == ["urn:eid:vn:level2"] and query["prompt"] == ["login"]
    assert page.text_content("#title") == "Level 2 identity required"
    explanation = page.inner_text("main, body")
    assert "chip ID card" in explanation and "police registration desk" in explanation
    assert "Đỗ Thị Hạnh" not in page.content() and desk.patient.cccd not in page.content()
    page.goto(f"{desk.config.base_url}/checkin")  # no patient was checked in
    assert page.url == f"{desk.config.base_url}/" and page.is_visible("#start-checkin")


def test_a_patient_who_declines_consent_gets_an_explanation(page: Page, provider: Provider, desk: Desk) -> None:
    _staff_logs_in(page, provider, desk)
    page.click("#start-checkin")
    page.wait_for_url(f"{provider.base_url}/login?req=**")
    page.fill("input[name=cccd]", desk.patient.cccd)
    page.fill("input[name=password]", desk.patient.password)
    page.locator("form[action='/login'] [type=submit]").click()
    page.wait_for_url(f"{provider.base_url}/consent?req=**")
    page.locator("button[name=decision][value=deny]").click()
    page.wait_for_url(f"{desk.config.base_url}/callback?**")
    assert page.text_content("#title") == "Login cancelled"
