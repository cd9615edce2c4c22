"""Fixtures for this folder."""

from tests.chromium import browser  # noqa: F401  (fixture)
from tests.live_provider import provider  # noqa: F401  (fixture)
