"""Fixtures for the example relying parties: a live provider and a headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.chromium import browser  # noqa: F401  (fixture)
from tests.live_provider import provider  # noqa: F401  (fixture)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811  (the fixture imported above)
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


