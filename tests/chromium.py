"""The headless Chromium the browser tests drive: one launch, the same flags everywhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
# No sandbox (containers run as root); nothing that reaches the network beyond the pages under test.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium is required for the browser tests ({CHROMIUM}); scripts/test.sh installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def capture_callbacks(page: Page, url_pattern: str) -> list[str]:
    """Answer the client's redirect URI in place of the client: the URLs the browser was sent to, in order."""
    callbacks: list[str] = []

    def _capture(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, body="callback received", content_type="text/plain")

    page.route(url_pattern, _capture)
    return callbacks
